// Package builtin lists the connector types a Tandem worker knows. The list is explicit:
// a type is available because it is registered here, never because some package was
// imported for its init side effects.
package builtin

import (
	"fmt"
	"strconv"
	"strings"

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
	mustRegister(r, "memory", openMemory)
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

// memorySettings are the settings a memory connection accepts, with what they do.
var memorySettings = map[string]string{
	"seed":        "number of sample companies to create (default 0)",
	"seed_object": `object the sample companies go into (default "companies")`,
	"id_prefix":   `prefix of the ids the connector assigns (default "m-")`,
	// Read by the webhook ingress (standardwebhooks.FromSettings), not by the connector.
	standardwebhooks.SettingSecret:         "secret the connection's webhooks are signed with (whsec_<base64> or plain)",
	standardwebhooks.SettingPreviousSecret: "previous webhook secret, also accepted while senders move to the new one",
}

// openMemory opens a memory connection. Every call returns a new, separate connector:
// two connections of type memory never share records, and neither do two opens of the
// same connection (each worker process, and each open within it, starts from the seed).
func openMemory(name string, settings connectors.Settings) (connectors.Connector, error) {
	if err := settings.OnlyKnown("memory", memorySettings); err != nil {
		return nil, err
	}
	seed := 0
	if s, ok := settings["seed"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("setting seed: %q is not a number of records (want a whole number, 0 or more)", s)
		}
		seed = n
	}
	object := "companies"
	if s, ok := settings["seed_object"]; ok {
		if s == "" {
			return nil, fmt.Errorf("setting seed_object: empty (leave it out for %q)", object)
		}
		object = s
	}

	c := memory.New(memory.Options{IDPrefix: settings["id_prefix"]})
	c.Seed(object, seed, memory.SampleCompany)
	return c, nil
}
