package hubspotfake

import (
	"fmt"
	"net/http"
	"sort"
	"time"
)

// Archived records (issue 15), as HubSpot documents them:
//
//   - Deleting a record through the API archives it: DELETE {object}/{id} "Move an Object
//     identified by {objectId} to the recycling bin", and POST {object}/batch/archive
//     deletes a batch by id; "Deleted companies can be restored within 90 days of
//     deletion" [doc: https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/companies/delete-company,
//     .../companies/batch/delete-companies; https://knowledge.hubspot.com/records/restore-deleted-records:
//     records can be restored "up to 90 days after they were deleted"]. After that the fake
//     purges them (Options.ArchiveRetention).
//   - Batch archive "will return a 204 No Content response on success regardless of the
//     initial state of the object (e.g. active, already archived, non-existent)" [doc:
//     HubSpot's generated client, hubspot-api-nodejs codegen/crm/companies BatchApi.archive].
//     [INF]: the single DELETE answers 204 for an id that is archived or was never there
//     too, as the batch does.
//   - GET {object}?archived=true lists them: "Whether to return only results that have been
//     archived", each with "archived": true and "archivedAt" [doc:
//     https://developers.hubspot.com/docs/api-reference/latest/crm/objects/companies/get-companies].
//     The list is in id order, not archivedAt order [INF: the list is paged by id].
//     GET {object}/{id}?archived=true reads one [doc: same parameter on the read endpoint].
//   - [INF]: HubSpot documents no refusal of an archive for one record. RefuseArchive lets a
//     test make one: a batch holding that id answers 400 VALIDATION_ERROR naming it in
//     context.ids, archiving none of the batch (as a batch create without trace ids fails
//     whole [doc: api-notes 1]), and DELETE {object}/{id} answers 400 with the message.
//   - Permanent (GDPR) deletions are "not held in the recycle bin" [doc:
//     knowledge.hubspot.com restore-deleted-records]: PurgeNow removes a record without
//     leaving it in the archived list.

// DefaultArchiveRetention is how long an archived record stays restorable, and listed
// with archived=true: 90 days [doc].
const DefaultArchiveRetention = 90 * 24 * time.Hour

// Delete archives a record as a user would in HubSpot's UI, with a deletion webhook
// (changeSource CRM_UI); it stays in the archived list for Options.ArchiveRetention.
func (s *Server) Delete(object, id string) error {
	s.mu.Lock()
	if _, ok := s.table(object)[id]; !ok {
		s.mu.Unlock()
		return fmt.Errorf("hubspotfake: no %s record %s", object, id)
	}
	evs := []event{s.archive(object, id, "CRM_UI")}
	s.mu.Unlock()
	s.send(evs)
	return nil
}

// PurgeNow deletes a record permanently, as a GDPR delete does: gone at once, not in the
// archived list, with a privacyDeletion webhook.
func (s *Server) PurgeNow(object, id string) error {
	s.mu.Lock()
	tb := s.table(object)
	if _, ok := tb[id]; !ok {
		s.mu.Unlock()
		return fmt.Errorf("hubspotfake: no %s record %s", object, id)
	}
	delete(tb, id)
	evs := []event{s.event(object, "privacyDeletion", id, "CRM_UI", "", "")}
	s.mu.Unlock()
	s.send(evs)
	return nil
}

// RefuseArchive makes the fake refuse to archive a record through the API, with message
// as HubSpot's reason (see the top of this file); an empty message lifts the refusal.
func (s *Server) RefuseArchive(object, id, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := object + "/" + id
	if message == "" {
		delete(s.refusals, key)
		return
	}
	s.refusals[key] = message
}

// Archived returns when each of object's archived records (still in the archived list)
// was archived, by id.
func (s *Server) Archived(object string) map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeArchived(object)
	out := map[string]time.Time{}
	for id, r := range s.archived[object] {
		out[id] = r.archivedAt
	}
	return out
}

// archive moves a live record to the archived list, stamped now, and returns its deletion
// event. Callers hold s.mu and have checked the record exists.
func (s *Server) archive(object, id, source string) event {
	tb := s.table(object)
	r := tb[id]
	delete(tb, id)
	r.archivedAt = s.now()
	if s.archived[object] == nil {
		s.archived[object] = map[string]*record{}
	}
	s.archived[object][id] = r
	return s.event(object, "deletion", id, source, "", "")
}

// purgeArchived drops the archived records older than the retention. Callers hold s.mu.
func (s *Server) purgeArchived(object string) {
	horizon := s.opts.Now().Add(-s.opts.ArchiveRetention)
	for id, r := range s.archived[object] {
		if r.archivedAt.Before(horizon) {
			delete(s.archived[object], id)
		}
	}
}

// refused returns the message of a refused archive of id, if any. Callers hold s.mu.
func (s *Server) refused(object, id string) (string, bool) {
	msg, ok := s.refusals[object+"/"+id]
	return msg, ok
}

// renderArchived is render for a record of the archived list.
func (s *Server) renderArchived(object string, r *record, props []string) map[string]any {
	out := s.render(object, r, props)
	out["archived"] = true
	out["archivedAt"] = isoMillis(r.archivedAt)
	return out
}

// batchArchive answers POST {object}/batch/archive: 204 whatever state each id was in, or
// 400 naming the refused ids, nothing archived.
func (s *Server) batchArchive(w http.ResponseWriter, object string, body batchBody) {
	s.mu.Lock()
	var refusedIDs, messages []string
	for _, in := range body.Inputs {
		if msg, ok := s.refused(object, in.ID); ok {
			if _, live := s.tables[object][in.ID]; live {
				refusedIDs = append(refusedIDs, in.ID)
				messages = append(messages, msg)
			}
		}
	}
	if len(refusedIDs) > 0 {
		s.mu.Unlock()
		s.writeError(w, http.StatusBadRequest, apiError{
			Category: "VALIDATION_ERROR",
			Message:  fmt.Sprintf("%s %s cannot be archived: %s", singular(object), refusedIDs[0], messages[0]),
			Context:  map[string][]string{"ids": refusedIDs},
		})
		return
	}
	var evs []event
	for _, in := range body.Inputs {
		if _, ok := s.tables[object][in.ID]; ok {
			s.stats.Writes++
			evs = append(evs, s.archive(object, in.ID, "INTEGRATION"))
		}
	}
	s.mu.Unlock()
	s.send(evs)
	w.WriteHeader(http.StatusNoContent)
}

// archiveOne answers DELETE {object}/{id}: 204 whatever state the id was in, or 400 for a
// refused record.
func (s *Server) archiveOne(w http.ResponseWriter, object, id string) {
	var evs []event
	s.mu.Lock()
	if _, ok := s.tables[object][id]; ok {
		if msg, refused := s.refused(object, id); refused {
			s.mu.Unlock()
			s.writeError(w, http.StatusBadRequest, apiError{
				Category: "VALIDATION_ERROR",
				Message:  fmt.Sprintf("%s %s cannot be archived: %s", singular(object), id, msg),
				Context:  map[string][]string{"ids": {id}},
			})
			return
		}
		s.stats.Writes++
		evs = append(evs, s.archive(object, id, "INTEGRATION"))
	}
	s.mu.Unlock()
	s.send(evs)
	w.WriteHeader(http.StatusNoContent)
}

// listed returns the records GET {object} pages through: the live ones, or with archived
// the archived list, in id order. Callers hold s.mu.
func (s *Server) listed(object string, archived bool) []*record {
	tb := s.tables[object]
	if archived {
		s.purgeArchived(object)
		tb = s.archived[object]
	}
	recs := make([]*record, 0, len(tb))
	for _, rec := range tb {
		recs = append(recs, rec)
	}
	sort.Slice(recs, func(i, j int) bool { return idLess(recs[i].id, recs[j].id) })
	return recs
}
