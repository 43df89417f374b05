package hubspotfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The CRM properties API: an object's property definitions, which are what its records may
// carry.
//
//   - GET {prefix}/{objectType} lists them: {"results": [Property, ...]}, each with name,
//     label, type, fieldType, groupName, hasUniqueValue and modificationMetadata
//     {archivable, readOnlyDefinition, readOnlyOptions, readOnlyValue}; archived=true
//     lists the archived (deleted) ones instead. GET {prefix}/{objectType}/{name} reads
//     one, POST {prefix}/{objectType} creates one (201), DELETE
//     {prefix}/{objectType}/{name} archives one (204) [doc:
//     https://developers.hubspot.com/docs/api-reference/legacy/crm/properties/get-properties
//     and the "CoreApi" of HubSpot's generated clients: GetAll, GetByName, Create,
//     Archive]. The prefix is /crm/v3/properties, or /crm/properties/<date> for the
//     date-versioned API [doc: .../latest/crm/properties/get-properties].
//   - A write naming a property the object does not have fails that record with
//     VALIDATION_ERROR / PROPERTY_DOESNT_EXIST, HTTP 400 (objects.go validate). Reads
//     leave such a property out [INF: HubSpot ignores unknown names in properties=].
//   - [INF] The fake starts with a few of HubSpot's default properties of each object
//     (defaultPropertyDefs). HubSpot refuses any other property until it is created; by
//     default the fake instead defines a property the first time a write (or Seed, or
//     Restore) names it, as a text property, so tests and the demo can write custom
//     properties without creating them first. Options.StrictProperties refuses them as
//     HubSpot does. A property deleted (DeleteProperty, or DELETE on the API) is refused
//     either way until it is created again.
//   - [INF] The values records hold for a deleted property are kept (HubSpot can restore
//     an archived property) but not read or searched.
//   - Property definitions are not part of State.

// Property is one property definition, as the properties API answers it.
type Property struct {
	Name      string `json:"name"`
	Label     string `json:"label"`
	Type      string `json:"type"`
	FieldType string `json:"fieldType"`
	GroupName string `json:"groupName"`
	// HasUniqueValue: HubSpot keeps the property's values unique in the object.
	HasUniqueValue bool `json:"hasUniqueValue"`
	// ReadOnlyValue: the property's value cannot be set (HubSpot computes it).
	ReadOnlyValue bool `json:"-"`
	// HubSpotDefined is true for HubSpot's own properties.
	HubSpotDefined bool `json:"hubspotDefined"`
}

// propertyJSON is a Property as the API answers it.
type propertyJSON struct {
	Property
	ModificationMetadata modificationMetadata `json:"modificationMetadata"`
	Hidden               bool                 `json:"hidden"`
	FormField            bool                 `json:"formField"`
	DisplayOrder         int                  `json:"displayOrder"`
	Options              []any                `json:"options"`
	CreatedAt            string               `json:"createdAt,omitempty"`
	UpdatedAt            string               `json:"updatedAt,omitempty"`
	Archived             bool                 `json:"archived"`
	ArchivedAt           string               `json:"archivedAt,omitempty"`
}

type modificationMetadata struct {
	Archivable         bool `json:"archivable"`
	ReadOnlyDefinition bool `json:"readOnlyDefinition"`
	ReadOnlyOptions    bool `json:"readOnlyOptions"`
	ReadOnlyValue      bool `json:"readOnlyValue"`
}

// propertyDef is a stored definition.
type propertyDef struct {
	Property
	created, updated, archivedAt time.Time
}

func (d *propertyDef) json() propertyJSON {
	out := propertyJSON{
		Property: d.Property,
		ModificationMetadata: modificationMetadata{
			Archivable:         !d.HubSpotDefined,
			ReadOnlyDefinition: d.HubSpotDefined,
			ReadOnlyValue:      d.ReadOnlyValue,
		},
		FormField: !d.ReadOnlyValue,
		Options:   []any{},
		CreatedAt: isoMillis(d.created),
		UpdatedAt: isoMillis(d.updated),
	}
	if !d.archivedAt.IsZero() {
		out.Archived = true
		out.ArchivedAt = isoMillis(d.archivedAt)
	}
	return out
}

func text(name, label, group string) Property {
	return Property{Name: name, Label: label, Type: "string", FieldType: "text", GroupName: group, HubSpotDefined: true}
}

func readOnlyDate(name, label, group string) Property {
	return Property{Name: name, Label: label, Type: "datetime", FieldType: "date", GroupName: group, HubSpotDefined: true, ReadOnlyValue: true}
}

// defaultPropertyDefs are the properties each object has from the start: some of
// HubSpot's default properties, with their internal names, labels and types [doc:
// https://knowledge.hubspot.com/properties/hubspots-default-company-properties and
// ...-default-contact-properties]. hs_object_id, createdate and the modified dates are
// computed (read-only).
func defaultPropertyDefs() map[string][]Property {
	objectID := Property{Name: "hs_object_id", Label: "Record ID", Type: "number", FieldType: "number",
		HubSpotDefined: true, ReadOnlyValue: true}
	companies := "companyinformation"
	contacts := "contactinformation"
	return map[string][]Property{
		"companies": {
			text("name", "Company name", companies),
			{Name: "domain", Label: "Company Domain Name", Type: "string", FieldType: "text", GroupName: companies, HubSpotDefined: true},
			{Name: "phone", Label: "Phone Number", Type: "string", FieldType: "phonenumber", GroupName: companies, HubSpotDefined: true},
			text("website", "Website URL", companies),
			{Name: "industry", Label: "Industry", Type: "enumeration", FieldType: "select", GroupName: companies, HubSpotDefined: true},
			text("city", "City", companies),
			text("state", "State/Region", companies),
			text("country", "Country/Region", companies),
			text("zip", "Postal Code", companies),
			{Name: "description", Label: "Description", Type: "string", FieldType: "textarea", GroupName: companies, HubSpotDefined: true},
			{Name: "numberofemployees", Label: "Number of Employees", Type: "number", FieldType: "number", GroupName: companies, HubSpotDefined: true},
			{Name: "annualrevenue", Label: "Annual Revenue", Type: "number", FieldType: "number", GroupName: companies, HubSpotDefined: true},
			readOnlyDate("createdate", "Create Date", companies),
			readOnlyDate("hs_lastmodifieddate", "Last Modified Date", companies),
			objectID,
		},
		"contacts": {
			{Name: "email", Label: "Email", Type: "string", FieldType: "text", GroupName: contacts, HubSpotDefined: true},
			text("firstname", "First Name", contacts),
			text("lastname", "Last Name", contacts),
			{Name: "phone", Label: "Phone Number", Type: "string", FieldType: "phonenumber", GroupName: contacts, HubSpotDefined: true},
			text("company", "Company Name", contacts),
			text("website", "Website URL", contacts),
			text("jobtitle", "Job Title", contacts),
			text("city", "City", contacts),
			text("country", "Country/Region", contacts),
			{Name: "lifecyclestage", Label: "Lifecycle Stage", Type: "enumeration", FieldType: "radio", GroupName: contacts, HubSpotDefined: true},
			readOnlyDate("createdate", "Create Date", contacts),
			readOnlyDate("lastmodifieddate", "Last Modified Date", contacts),
			objectID,
		},
	}
}

// initProperties fills the definitions of a new server: the defaults and
// Options.Properties, with Options.UniqueProperties marked unique.
func (s *Server) initProperties() {
	s.props = map[string]map[string]*propertyDef{}
	s.archivedProps = map[string]map[string]*propertyDef{}
	now := s.now()
	for object, list := range defaultPropertyDefs() {
		s.props[object] = map[string]*propertyDef{}
		s.archivedProps[object] = map[string]*propertyDef{}
		all := append(list, s.opts.Properties[object]...)
		for _, p := range all {
			if contains(s.uniqueProps(object), p.Name) {
				p.HasUniqueValue = true
			}
			s.props[object][p.Name] = &propertyDef{Property: p, created: now, updated: now}
		}
	}
}

// DefineProperty creates (or replaces) a property of object, as an admin would in
// HubSpot's settings; a property of that name that was deleted is live again.
func (s *Server) DefineProperty(object string, p Property) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.props[object]; !ok {
		return fmt.Errorf("hubspotfake: no object %q (companies or contacts)", object)
	}
	if !internalName.MatchString(p.Name) {
		return fmt.Errorf("hubspotfake: %q is not a property's internal name (lower-case letters, digits and _)", p.Name)
	}
	s.defineLocked(object, p)
	return nil
}

// DeleteProperty deletes (archives) a property of object, as an admin would: afterwards
// the properties API does not list it, reads leave it out, and a write naming it fails
// with PROPERTY_DOESNT_EXIST. HubSpot's own properties cannot be deleted.
func (s *Server) DeleteProperty(object, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.props[object][name]
	if !ok {
		return fmt.Errorf("hubspotfake: %s has no property %q", object, name)
	}
	if d.HubSpotDefined {
		return fmt.Errorf("hubspotfake: %s.%s is one of HubSpot's own properties, which cannot be deleted", object, name)
	}
	s.archivePropertyLocked(object, d)
	return nil
}

// Properties returns object's live property definitions, sorted by name.
func (s *Server) Properties(object string) []Property {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Property
	for _, d := range s.sortedProps(s.props[object]) {
		out = append(out, d.Property)
	}
	return out
}

func (s *Server) defineLocked(object string, p Property) {
	now := s.now()
	if contains(s.uniqueProps(object), p.Name) {
		p.HasUniqueValue = true
	}
	delete(s.archivedProps[object], p.Name)
	if d, ok := s.props[object][p.Name]; ok {
		d.Property, d.updated = p, now
		return
	}
	s.props[object][p.Name] = &propertyDef{Property: p, created: now, updated: now}
}

func (s *Server) archivePropertyLocked(object string, d *propertyDef) {
	delete(s.props[object], d.Name)
	d.archivedAt = s.now()
	s.archivedProps[object][d.Name] = d
}

// propertyMissing reports whether object lacks property name, so a write naming it is
// refused: it was deleted, or StrictProperties is set and it was never defined; callers
// hold s.mu.
func (s *Server) propertyMissing(object, name string) bool {
	if _, ok := s.props[object][name]; ok {
		return false
	}
	if _, gone := s.archivedProps[object][name]; gone {
		return true
	}
	return s.opts.StrictProperties
}

// readable reports whether reads return property name of object; callers hold s.mu.
func (s *Server) readable(object, name string) bool {
	switch name {
	case "hs_object_id", "createdate", modifiedProperty[object]:
		return true
	}
	return !s.propertyMissing(object, name)
}

// defineSeen defines, unless StrictProperties, the properties props names that object
// does not have yet (deleted ones stay deleted); callers hold s.mu.
func (s *Server) defineSeen(object string, props map[string]string) {
	if s.opts.StrictProperties {
		return
	}
	for name := range props {
		if _, ok := s.props[object][name]; ok || !internalName.MatchString(name) {
			continue
		}
		if _, gone := s.archivedProps[object][name]; gone {
			continue
		}
		s.defineLocked(object, Property{Name: name, Label: name, Type: "string", FieldType: "text", GroupName: singularLower(object) + "information"})
	}
}

func singularLower(object string) string { return strings.ToLower(singular(object)) }

func (s *Server) sortedProps(m map[string]*propertyDef) []*propertyDef {
	out := make([]*propertyDef, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// propertiesPath splits a properties API path: "/crm/v3/properties/companies/name" and
// "/crm/properties/2026-03/companies/name" are ("companies", "name").
var propertiesPath = regexp.MustCompile(`^/crm/(?:v3/properties|properties/[0-9]{4}-[0-9]{2})/([^/]+)(?:/([^/]+))?/?$`)

// serveProperties answers the properties API; the request is authenticated and admitted.
func (s *Server) serveProperties(w http.ResponseWriter, r *http.Request, object, name string) {
	s.mu.Lock()
	_, known := s.props[object]
	s.mu.Unlock()
	if !known {
		s.writeError(w, http.StatusBadRequest, apiError{Category: "VALIDATION_ERROR", Message: "Unable to infer object type from: " + object})
		return
	}
	switch {
	case name == "" && r.Method == http.MethodGet:
		archived := r.URL.Query().Get("archived") == "true"
		s.mu.Lock()
		list := s.props[object]
		if archived {
			list = s.archivedProps[object]
		}
		results := []propertyJSON{}
		for _, d := range s.sortedProps(list) {
			results = append(results, d.json())
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"results": results})
	case name == "" && r.Method == http.MethodPost:
		var p Property
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			s.badRequest(w, "Invalid input JSON: %v", err)
			return
		}
		if !internalName.MatchString(p.Name) || p.Label == "" || p.Type == "" || p.FieldType == "" || p.GroupName == "" {
			s.badRequest(w, "A property needs name (lower-case letters, digits and _), label, type, fieldType and groupName")
			return
		}
		p.HubSpotDefined = false
		s.mu.Lock()
		if _, exists := s.props[object][p.Name]; exists {
			s.mu.Unlock()
			s.writeError(w, http.StatusConflict, apiError{Category: "OBJECT_ALREADY_EXISTS",
				Message: fmt.Sprintf("A property named '%s' already exists.", p.Name)})
			return
		}
		s.defineLocked(object, p)
		out := s.props[object][p.Name].json()
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, out)
	case name != "" && r.Method == http.MethodGet:
		s.mu.Lock()
		d, ok := s.props[object][name]
		var out propertyJSON
		if ok {
			out = d.json()
		}
		s.mu.Unlock()
		if !ok {
			s.writeError(w, http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND",
				Message: fmt.Sprintf("Unable to find property %s for object type %s", name, object)})
			return
		}
		writeJSON(w, http.StatusOK, out)
	case name != "" && r.Method == http.MethodDelete:
		s.mu.Lock()
		d, ok := s.props[object][name]
		switch {
		case !ok:
			s.mu.Unlock()
			s.writeError(w, http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND",
				Message: fmt.Sprintf("Unable to find property %s for object type %s", name, object)})
		case d.HubSpotDefined:
			s.mu.Unlock()
			s.badRequest(w, "%s is a HubSpot defined property and cannot be archived", name)
		default:
			s.archivePropertyLocked(object, d)
			s.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		s.writeError(w, http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "No route for " + r.Method + " " + r.URL.Path})
	}
}
