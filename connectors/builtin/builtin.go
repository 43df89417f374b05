// Package builtin lists the connector types a Tandem worker knows. The list is explicit:
// a type is available because it is registered here, never because some package was
// imported for its init side effects.
package builtin

import (
	"tandem/connectors"
	"tandem/connectors/hubspot"
	"tandem/connectors/memory"
	"tandem/connectors/netsuite"
	"tandem/connectors/s3"
	"tandem/connectors/salesforce"
	"tandem/connectors/salesloft"
	"tandem/connectors/sqldb"
	"tandem/connectors/standardwebhooks"
)

// Registry returns a new registry with every built-in connector type:
//
//	memory  in-process records (connectors/memory), for tests and trying Tandem out;
//	        its webhooks are Standard Webhooks signed with the connection's webhook_secret
//	hubspot    HubSpot CRM companies and contacts; webhooks signed v3 (and v1/v2)
//	salesloft  Salesloft accounts; webhooks signed with the callback token (HMAC-SHA1)
//	netsuite   NetSuite records through SuiteQL and the record API (TBA or M2M auth)
//	salesforce Salesforce objects through SOQL and sObject Collections; Outbound
//	           Messages (SOAP, checked against the organization id) for real time
//	s3      a destination writing each batch as a gzip NDJSON object (connectors/s3)
//	sql     rows of SQLite or PostgreSQL tables through database/sql (connectors/sqldb)
func Registry() *connectors.Registry {
	r := connectors.NewRegistry()
	mustRegister(r, memory.Type, memory.Factory)
	mustRegisterWebhooks(r, "memory", standardwebhooks.FromSettings)
	mustRegister(r, hubspot.Type, hubspot.Factory)
	mustRegisterWebhooks(r, hubspot.Type, hubspot.WebhookFactory)
	mustRegister(r, salesloft.Type, salesloft.Factory)
	mustRegisterWebhooks(r, salesloft.Type, salesloft.WebhookFactory)
	mustRegister(r, netsuite.Type, netsuite.Factory)
	mustRegister(r, salesforce.Type, salesforce.Factory)
	mustRegisterWebhooks(r, salesforce.Type, salesforce.Webhooks)
	mustRegister(r, s3.Type, s3.Factory)
	mustRegister(r, sqldb.Type, sqldb.Factory)
	return r
}

// mustRegister panics on a registration error: the list above is fixed at compile time,
// so a duplicate or empty type is a bug caught by the first test that builds it.
func mustRegister(r *connectors.Registry, typ string, f connectors.Factory) {
	if err := r.Register(typ, f); err != nil {
		panic(err)
	}
}

func mustRegisterWebhooks(r *connectors.Registry, typ string, f connectors.WebhookFactory) {
	if err := r.RegisterWebhooks(typ, f); err != nil {
		panic(err)
	}
}
