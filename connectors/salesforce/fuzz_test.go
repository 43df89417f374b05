package salesforce

import (
	"bytes"
	"encoding/xml"
	"errors"
	"reflect"
	"strings"
	"testing"

	"tandem/connectors"
)

// fuzzOrg is the organization the fuzz targets' messages come from.
const fuzzOrg = "00D5g000004XyZaEAK"

// fuzzMessage is an Outbound Message as Salesforce POSTs it, from org: two notifications of
// one workflow action, each with the fields the message was set up to send.
func fuzzMessage(org string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>` + org + `</OrganizationId>
   <ActionId>04k5g000000CbFQAA0</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/00D5g000004XyZa</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D5g000004XyZa</PartnerUrl>
   <Notification>
    <Id>04l5g00000OmT2hAAF</Id>
    <sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>0015g00000Q7pZ1AAJ</sf:Id>
     <sf:Name>Northwind Analytics &amp; Co</sf:Name>
     <sf:Website>https://www.northwind.example.com</sf:Website>
     <sf:Phone xsi:nil="true"/>
     <sf:SystemModstamp>2025-03-01T09:15:27.000Z</sf:SystemModstamp>
    </sObject>
   </Notification>
   <Notification>
    <Id>04l5g00000OmT2iAAF</Id>
    <sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>0015g00000Q7pZ2AAJ</sf:Id>
     <sf:Name>Blue Logistics</sf:Name>
     <sf:LastModifiedDate>2025-03-01T09:15:28+01:00</sf:LastModifiedDate>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>`
}

// fuzzSameOrg is what "the same organization" means, written apart from SameID: the same
// string, or two Salesforce ids of the same thing: equal up to case in their 18-character
// form (its last three characters encode the case of the first 15), or a 15-character id
// and the 18-character form of it, whose first 15 characters are the 15 as written.
func fuzzSameOrg(a, b string) bool {
	switch {
	case a == b:
		return true
	case len(a) == 18 && len(b) == 18:
		return strings.EqualFold(a, b)
	case len(a) == 15 && len(b) == 18:
		return a == b[:15]
	case len(a) == 18 && len(b) == 15:
		return a[:15] == b
	}
	return false
}

// FuzzParseOutboundMessage feeds arbitrary bodies and configured org ids to
// ParseOutboundMessage. Besides not panicking: the answer is the same when asked twice; a
// refusal wraps ErrMalformedWebhook or ErrBadSignature and comes with no events and no
// acknowledgement; an accepted message is from the configured organization, is acknowledged,
// and yields one well-formed event per notification, the same as OutboundVerifier's.
func FuzzParseOutboundMessage(f *testing.F) {
	sample := fuzzMessage(fuzzOrg)
	f.Add([]byte(sample), fuzzOrg)
	f.Add([]byte(sample), fuzzOrg[:15])
	f.Add([]byte(fuzzMessage(fuzzOrg[:15])), fuzzOrg)
	f.Add([]byte(fuzzMessage(" "+strings.ToLower(fuzzOrg)+"\n")), fuzzOrg)
	f.Add([]byte(`<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>`+
		`<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>`+fuzzOrg+`</OrganizationId></notifications>`+
		`</Body></Envelope>`), fuzzOrg)
	// Malformed or refused: another organization, none configured, not XML, truncated,
	// another SOAP call, no org id, a notification without its record id or its type.
	f.Add([]byte(sample), "00D5g000009ZZZZEAK")
	f.Add([]byte(sample), "")
	f.Add([]byte(`{"notifications": []}`), fuzzOrg)
	f.Add([]byte(sample[:len(sample)/2]), fuzzOrg)
	f.Add([]byte(strings.ReplaceAll(sample, "<notifications ", "<upsert ")), fuzzOrg)
	f.Add([]byte(fuzzMessage("")), fuzzOrg)
	f.Add([]byte(strings.Replace(sample, "<sf:Id>0015g00000Q7pZ2AAJ</sf:Id>", "", 1)), fuzzOrg)
	f.Add([]byte(strings.Replace(sample, `xsi:type="sf:Account" `, "", 1)), fuzzOrg)
	f.Add([]byte(strings.Replace(sample, `xsi:type="sf:Account" `, `xsi:type="sf:" `, 1)), fuzzOrg)
	f.Add([]byte(strings.Replace(sample, `<sf:Id>0015g00000Q7pZ2AAJ</sf:Id>`, `<sf:Id xsi:nil="true"/>`, 1)), fuzzOrg)

	f.Fuzz(func(t *testing.T, body []byte, orgID string) {
		events, ack, err := ParseOutboundMessage(body, orgID)
		events2, ack2, err2 := ParseOutboundMessage(body, orgID)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(events, events2) || !bytes.Equal(ack, ack2) {
			t.Fatalf("ParseOutboundMessage is not deterministic: %v, %v then %v, %v", events, err, events2, err2)
		}
		vEvents, vErr := (&OutboundVerifier{OrgID: orgID}).Verify(nil, body)
		if (err == nil) != (vErr == nil) || !reflect.DeepEqual(events, vEvents) {
			t.Fatalf("OutboundVerifier answers %v, %v; ParseOutboundMessage %v, %v", vEvents, vErr, events, err)
		}
		if err != nil {
			if !errors.Is(err, connectors.ErrMalformedWebhook) && !errors.Is(err, connectors.ErrBadSignature) {
				t.Fatalf("error wraps neither ErrMalformedWebhook nor ErrBadSignature: %v", err)
			}
			if events != nil || ack != nil {
				t.Fatalf("a refused message came with events %v or an acknowledgement", events)
			}
			return
		}
		if !bytes.Equal(ack, OutboundAck()) {
			t.Fatalf("accepted message acknowledged with %q", ack)
		}
		msg, err := DecodeOutboundMessage(body)
		if err != nil {
			t.Fatalf("accepted a message DecodeOutboundMessage refuses: %v", err)
		}
		if !fuzzSameOrg(msg.OrganizationID, strings.TrimSpace(orgID)) {
			t.Fatalf("accepted a message from organization %q for %q", msg.OrganizationID, orgID)
		}
		if len(events) != len(msg.Notifications) {
			t.Fatalf("%d events of %d notifications", len(events), len(msg.Notifications))
		}
		for i, ev := range events {
			if ev.ID == "" || ev.ID != strings.TrimSpace(ev.ID) || ev.RecordID == "" || ev.Object == "" || strings.Contains(ev.Object, ":") {
				t.Fatalf("event %d is not well-formed: %+v", i, ev)
			}
			if ev.Kind != "updated" {
				t.Fatalf("event %d of kind %q", i, ev.Kind)
			}
		}
	})
}

// FuzzOutboundOrgCheck fuzzes the only check an unsigned Outbound Message gets: the message's
// OrganizationId against the configured one. A message is accepted exactly when the two name
// the same organization (fuzzSameOrg).
func FuzzOutboundOrgCheck(f *testing.F) {
	f.Add(fuzzOrg, fuzzOrg)
	f.Add(fuzzOrg, fuzzOrg[:15])
	f.Add(fuzzOrg[:15], fuzzOrg)
	f.Add(strings.ToLower(fuzzOrg), fuzzOrg)
	f.Add(strings.ToLower(fuzzOrg[:15]), fuzzOrg)
	f.Add(" "+fuzzOrg+"\t", fuzzOrg+" ")
	f.Add("00D5g000009ZZZZEAK", fuzzOrg)
	f.Add(fuzzOrg+"X", fuzzOrg)
	// Found by FuzzParseOutboundMessage: a 15-character id was the same as any longer string
	// it began.
	f.Add(fuzzOrg[:15]+"XYZW", fuzzOrg[:15])
	f.Add(fuzzOrg[:15], fuzzOrg[:15]+"XYZW")
	f.Add("", fuzzOrg)
	f.Add(fuzzOrg, "")

	f.Fuzz(func(t *testing.T, msgOrg, cfgOrg string) {
		var esc bytes.Buffer
		if err := xml.EscapeText(&esc, []byte(msgOrg)); err != nil {
			t.Fatal(err)
		}
		body := []byte(fuzzMessage(esc.String()))
		msg, derr := DecodeOutboundMessage(body)
		_, _, err := ParseOutboundMessage(body, cfgOrg)
		cfg := strings.TrimSpace(cfgOrg)
		switch {
		case derr != nil || cfg == "":
			if err == nil {
				t.Fatalf("accepted a message without an organization id, or with none configured")
			}
		case fuzzSameOrg(msg.OrganizationID, cfg) && err != nil:
			t.Fatalf("refused a message from organization %q for %q: %v", msg.OrganizationID, cfg, err)
		case !fuzzSameOrg(msg.OrganizationID, cfg) && err == nil:
			t.Fatalf("accepted a message from organization %q for %q", msg.OrganizationID, cfg)
		}
		if err != nil && !errors.Is(err, connectors.ErrBadSignature) && !errors.Is(err, connectors.ErrMalformedWebhook) {
			t.Fatalf("error wraps neither ErrBadSignature nor ErrMalformedWebhook: %v", err)
		}
	})
}
