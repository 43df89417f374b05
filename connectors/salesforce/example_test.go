package salesforce_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"tandem/connectors"
	"tandem/connectors/salesforce"
	"tandem/connectors/salesforce/salesforcefake"
)

// A salesforce connection against the fake org: the settings a syncs.yaml would hold, a
// batch upsert by external id, and the changes it made.
func Example() {
	// The org's clock: the upserts happen at 09:00:00, the changes are read a second later
	// (the second the org is still in is read only once it is over).
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(salesforcefake.New(salesforcefake.Options{Now: func() time.Time { return now }}))
	defer srv.Close()

	conn, err := salesforce.Factory("crm", connectors.Settings{
		"login_url":     srv.URL,
		"client_id":     salesforcefake.DefaultClientID,
		"client_secret": salesforcefake.DefaultClientSecret,
		"fields":        "Account:Netsuite_Id__c",
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	res, err := conn.Upsert(ctx, "Account", "Netsuite_Id__c", []connectors.Record{
		{Fields: map[string]any{"Name": "Northwind Analytics", "Website": "northwind.example.com", "Netsuite_Id__c": "C-1001"}},
		{Fields: map[string]any{"Name": "Blue Logistics", "Netsuite_Id__c": "C-1002"}},
		{Fields: map[string]any{"Website": "nameless.example.com", "Netsuite_Id__c": "C-1003"}},
	})
	if err != nil {
		panic(err)
	}
	for _, r := range res {
		fmt.Println(r.ID, r.Created, r.Err)
	}
	now = now.Add(time.Second)
	page, err := conn.Changes(ctx, "Account", connectors.Cursor{}, 10)
	if err != nil {
		panic(err)
	}
	for _, r := range page.Records {
		fmt.Println(r.ID, r.Fields["Name"], r.Fields["Netsuite_Id__c"])
	}
	fmt.Println(conn.(*salesforce.Client).Usage())
	// Output:
	// 0015g0000000001AAA true <nil>
	// 0015g0000000002AAA true <nil>
	//  false invalid record Account Netsuite_Id__c=C-1003 (field Name): REQUIRED_FIELD_MISSING: Required fields are missing: [Name]
	// 0015g0000000001AAA Northwind Analytics C-1001
	// 0015g0000000002AAA Blue Logistics C-1002
	// map[api-usage:2/100000]
}
