package salesforce

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"time"

	"tandem/connectors"
)

// Outbound Messages are Salesforce's real-time changes: a workflow rule or flow POSTs a SOAP
// notifications() call, up to 100 notifications each, retried for up to 24 hours until it
// is acknowledged; deliveries may come out of order, twice, or not at all [doc:
// sforce_api_om_outboundmessaging_notifications]. They carry no signature [INF], so a
// message is checked against the org id configured for the connection, and the records are
// read fresh by id as every webhook event is.

// The namespaces of an Outbound Message.
const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsOutbound = "http://soap.sforce.com/2005/09/outbound"
	nsXSI      = "http://www.w3.org/2001/XMLSchema-instance"
)

// AckContentType is the content type of the acknowledgement.
const AckContentType = "text/xml; charset=utf-8"

// ackBody acknowledges every notification of a message. [INF]: the notes do not cite the
// WSDL for <Ack>true</Ack> in a notificationsResponse; it is what Salesforce's generated
// listeners answer.
var ackBody = []byte(`<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">
   <Ack>true</Ack>
  </notificationsResponse>
 </soapenv:Body>
</soapenv:Envelope>
`)

// OutboundMessage is a parsed notifications() call.
type OutboundMessage struct {
	OrganizationID string         `xml:"OrganizationId"`
	ActionID       string         `xml:"ActionId"`
	SessionID      string         `xml:"SessionId"`
	EnterpriseURL  string         `xml:"EnterpriseUrl"`
	PartnerURL     string         `xml:"PartnerUrl"`
	Notifications  []Notification `xml:"Notification"`
}

// Notification is one changed record of a message.
type Notification struct {
	ID      string  `xml:"Id"`
	SObject SObject `xml:"sObject"`
}

// SObject is the record a notification carries: its type ("sf:Account") and the fields the
// outbound message was set up to send.
type SObject struct {
	Type   string      `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
	Fields []SOAPField `xml:",any"`
}

// SOAPField is one field of an SObject.
type SOAPField struct {
	XMLName xml.Name
	Nil     string `xml:"http://www.w3.org/2001/XMLSchema-instance nil,attr"`
	Value   string `xml:",chardata"`
}

// Object returns the sObject type without its namespace prefix: "sf:Account" → "Account".
func (o SObject) Object() string { return o.Type[strings.LastIndex(o.Type, ":")+1:] }

// Field returns the value of the named field; ok is false when the message does not carry
// it or carries it as xsi:nil.
func (o SObject) Field(name string) (string, bool) {
	for _, f := range o.Fields {
		if f.XMLName.Local == name && f.Nil != "true" {
			return strings.TrimSpace(f.Value), true
		}
	}
	return "", false
}

type soapEnvelope struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		Notifications *OutboundMessage `xml:"http://soap.sforce.com/2005/09/outbound notifications"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

// DecodeOutboundMessage parses a notifications() SOAP envelope without checking it; an
// error wraps connectors.ErrMalformedWebhook.
func DecodeOutboundMessage(body []byte) (*OutboundMessage, error) {
	var env soapEnvelope
	dec := xml.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: salesforce outbound message: %v", connectors.ErrMalformedWebhook, err)
	}
	msg := env.Body.Notifications
	if msg == nil {
		return nil, fmt.Errorf("%w: salesforce outbound message: the SOAP body has no notifications element", connectors.ErrMalformedWebhook)
	}
	msg.OrganizationID = strings.TrimSpace(msg.OrganizationID)
	if msg.OrganizationID == "" {
		return nil, fmt.Errorf("%w: salesforce outbound message: no OrganizationId", connectors.ErrMalformedWebhook)
	}
	return msg, nil
}

// ParseOutboundMessage parses the SOAP body of an Outbound Message sent to orgID's
// endpoint and returns one event per notification, with the SOAP acknowledgement to answer
// once the events are safely recorded (Salesforce redelivers until then).
//
// A message from another organization is refused with an error wrapping
// connectors.ErrBadSignature: the org id is the only thing that ties an unsigned message to
// the connection. An unparsable one wraps connectors.ErrMalformedWebhook.
//
// Event ID is the notification Id (redeliveries repeat it), RecordID the sObject Id, Object
// its xsi:type without prefix, Kind "updated" (a message does not say whether the rule
// fired on create or edit), OccurredAt the record's SystemModstamp or LastModifiedDate
// when the message carries one.
func ParseOutboundMessage(body []byte, orgID string) (events []connectors.WebhookEvent, ackBody []byte, err error) {
	orgID = strings.TrimSpace(orgID)
	if orgID == "" {
		return nil, nil, fmt.Errorf("%w: salesforce outbound message: no organization id configured (setting %s)", connectors.ErrBadSignature, SettingOrganizationID)
	}
	msg, err := DecodeOutboundMessage(body)
	if err != nil {
		return nil, nil, err
	}
	if !SameID(msg.OrganizationID, orgID) {
		return nil, nil, fmt.Errorf("%w: salesforce outbound message from organization %s, want %s (setting %s)",
			connectors.ErrBadSignature, msg.OrganizationID, orgID, SettingOrganizationID)
	}
	events = make([]connectors.WebhookEvent, 0, len(msg.Notifications))
	for i, n := range msg.Notifications {
		id, _ := n.SObject.Field("Id")
		object := n.SObject.Object()
		if strings.TrimSpace(n.ID) == "" || id == "" || object == "" {
			return nil, nil, fmt.Errorf("%w: salesforce outbound message: notification %d lacks its Id, its sObject Id or its xsi:type",
				connectors.ErrMalformedWebhook, i+1)
		}
		ev := connectors.WebhookEvent{ID: strings.TrimSpace(n.ID), Object: object, RecordID: id, Kind: "updated"}
		for _, f := range []string{"SystemModstamp", "LastModifiedDate"} {
			if s, ok := n.SObject.Field(f); ok {
				if at, err := time.Parse(time.RFC3339Nano, s); err == nil {
					ev.OccurredAt = at.UTC()
					break
				}
			}
		}
		events = append(events, ev)
	}
	return events, OutboundAck(), nil
}

// OutboundAck returns the SOAP acknowledgement of an Outbound Message.
func OutboundAck() []byte { return bytes.Clone(ackBody) }

// SameID reports whether two Salesforce ids name the same thing: equal, or, when one is
// the 15-character case-sensitive form and the other the 18-character form, equal in their
// first 15 characters. A 15-character id and a longer string that is not an 18-character id
// are different things, however they begin.
func SameID(a, b string) bool {
	switch {
	case a == b:
		return true
	case len(a) == 18 && len(b) == 18:
		// The last three characters encode the case of the first 15, so an 18-character
		// id may be compared without case.
		return strings.EqualFold(a, b)
	case len(a) == 15 && len(b) == 18, len(a) == 18 && len(b) == 15:
		return a[:15] == b[:15]
	}
	return false
}

// OutboundVerifier checks Outbound Messages for the webhook ingress: a
// connectors.WebhookVerifier over ParseOutboundMessage. Salesforce needs the
// acknowledgement as the answer's body (AckResponse); the ingress writes it after the
// events are signalled.
type OutboundVerifier struct {
	OrgID string
}

var _ connectors.WebhookVerifier = (*OutboundVerifier)(nil)

// Webhooks is the connectors.WebhookFactory of salesforce connections: it reads the
// organization_id setting.
func Webhooks(name string, settings connectors.Settings) (connectors.WebhookVerifier, error) {
	org := strings.TrimSpace(settings[SettingOrganizationID])
	if org == "" {
		return nil, fmt.Errorf("setting %s: required to receive Outbound Messages (they carry no signature; the org id is what they are checked against)", SettingOrganizationID)
	}
	if !IsID(org) || !strings.HasPrefix(org, "00D") {
		return nil, fmt.Errorf("setting %s: %q is not an organization id (00D followed by 12 or 15 characters)", SettingOrganizationID, org)
	}
	return &OutboundVerifier{OrgID: org}, nil
}

// Verify implements connectors.WebhookVerifier.
func (v *OutboundVerifier) Verify(_ *http.Request, body []byte) ([]connectors.WebhookEvent, error) {
	events, _, err := ParseOutboundMessage(body, v.OrgID)
	return events, err
}

// AckResponse returns what the ingress answers an accepted Outbound Message with.
func (v *OutboundVerifier) AckResponse() (contentType string, body []byte) {
	return AckContentType, OutboundAck()
}
