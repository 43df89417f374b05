package salesforce_test

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/salesforce"
	"tandem/connectors/salesforce/salesforcefake"
)

// outboundSample is an Outbound Message as Salesforce POSTs it: two notifications of one
// workflow action, each with the fields the message was set up to send.
const outboundSample = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D5g000004XyZaEAK</OrganizationId>
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
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>`

const sampleOrg = "00D5g000004XyZaEAK"

func TestParseOutboundMessage(t *testing.T) {
	events, ack, err := salesforce.ParseOutboundMessage([]byte(outboundSample), sampleOrg)
	require.NoError(t, err)
	assert.Equal(t, []connectors.WebhookEvent{
		{ID: "04l5g00000OmT2hAAF", Object: "Account", RecordID: "0015g00000Q7pZ1AAJ", Kind: "updated",
			OccurredAt: time.Date(2025, 3, 1, 9, 15, 27, 0, time.UTC)},
		{ID: "04l5g00000OmT2iAAF", Object: "Account", RecordID: "0015g00000Q7pZ2AAJ", Kind: "updated"},
	}, events)

	// The acknowledgement: <Ack>true</Ack> in a notificationsResponse.
	var env struct {
		Body struct {
			Response struct {
				Ack bool `xml:"Ack"`
			} `xml:"http://soap.sforce.com/2005/09/outbound notificationsResponse"`
		} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
	}
	require.NoError(t, xml.Unmarshal(ack, &env))
	assert.True(t, env.Body.Response.Ack)

	// The org id may be configured in its 15-character form.
	_, _, err = salesforce.ParseOutboundMessage([]byte(outboundSample), sampleOrg[:15])
	assert.NoError(t, err)

	msg, err := salesforce.DecodeOutboundMessage([]byte(outboundSample))
	require.NoError(t, err)
	assert.Equal(t, "04k5g000000CbFQAA0", msg.ActionID)
	assert.Equal(t, "https://acme.my.salesforce.com/services/Soap/u/62.0/00D5g000004XyZa", msg.PartnerURL)
	name, ok := msg.Notifications[0].SObject.Field("Name")
	assert.True(t, ok)
	assert.Equal(t, "Northwind Analytics & Co", name)
	_, ok = msg.Notifications[0].SObject.Field("Phone")
	assert.False(t, ok, "xsi:nil is no value")
}

func TestParseOutboundMessageRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		org  string
		want error
	}{
		{"another organization", outboundSample, "00D5g000009ZZZZEAK", connectors.ErrBadSignature},
		{"no organization configured", outboundSample, "", connectors.ErrBadSignature},
		{"not XML", `{"notifications": []}`, sampleOrg, connectors.ErrMalformedWebhook},
		{"truncated", outboundSample[:len(outboundSample)/2], sampleOrg, connectors.ErrMalformedWebhook},
		{"another SOAP call", strings.ReplaceAll(outboundSample, "<notifications ", "<upsert "), sampleOrg, connectors.ErrMalformedWebhook},
		{"no organization id", strings.Replace(outboundSample, "<OrganizationId>"+sampleOrg, "<OrganizationId>", 1), sampleOrg, connectors.ErrMalformedWebhook},
		{"notification without its record id", strings.Replace(outboundSample, "<sf:Id>0015g00000Q7pZ2AAJ</sf:Id>", "", 1), sampleOrg, connectors.ErrMalformedWebhook},
		{"notification without a type", strings.Replace(outboundSample, `xsi:type="sf:Account" `, "", 1), sampleOrg, connectors.ErrMalformedWebhook},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, ack, err := salesforce.ParseOutboundMessage([]byte(tc.body), tc.org)
			assert.ErrorIs(t, err, tc.want)
			assert.Nil(t, events)
			assert.Nil(t, ack, "no acknowledgement for a refused message: Salesforce keeps it for a retry")
		})
	}
}

func TestOutboundVerifier(t *testing.T) {
	_, err := salesforce.Webhooks("crm", connectors.Settings{})
	assert.ErrorContains(t, err, "setting organization_id: required")
	_, err = salesforce.Webhooks("crm", connectors.Settings{salesforce.SettingOrganizationID: "0015g00000Q7pZ1AAJ"})
	assert.ErrorContains(t, err, "not an organization id")

	v, err := salesforce.Webhooks("crm", connectors.Settings{salesforce.SettingOrganizationID: sampleOrg})
	require.NoError(t, err)
	events, err := v.Verify(nil, []byte(outboundSample))
	require.NoError(t, err)
	assert.Len(t, events, 2)
	ct, body := v.(*salesforce.OutboundVerifier).AckResponse()
	assert.Equal(t, "text/xml; charset=utf-8", ct)
	assert.Contains(t, string(body), "<Ack>true</Ack>")
}

// TestFakeOutboundMessage: the fake's Outbound Messages parse, and name records that the
// connector then reads fresh by id.
func TestFakeOutboundMessage(t *testing.T) {
	e := start(t, salesforcefake.Options{}, nil)
	a := e.fake.Seed(account, map[string]any{"Name": "A <&> B", "Website": nil})
	b := e.fake.Seed(account, map[string]any{"Name": "B"})
	body, err := e.fake.OutboundMessage(account, a, b)
	require.NoError(t, err)

	events, _, err := salesforce.ParseOutboundMessage(body, e.fake.OrgID())
	require.NoError(t, err)
	require.Len(t, events, 2)
	assert.NotEqual(t, events[0].ID, events[1].ID)
	ids := []string{events[0].RecordID, events[1].RecordID}
	assert.Equal(t, []string{a, b}, ids)
	assert.False(t, events[0].OccurredAt.IsZero())

	recs, err := e.client.Get(context.Background(), events[0].Object, ids)
	require.NoError(t, err)
	assert.Len(t, recs, 2)
}
