package s3_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"tandem/connectors"
	"tandem/connectors/s3"
)

// A run of the daily export writes each batch as one object under the run's date; List
// shows what the run left in the bucket and Read what one object holds.
func ExampleConnector_List() {
	backend := s3mem.New()
	_ = backend.CreateBucket("exports")
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()

	c, err := s3.Factory("export", connectors.Settings{
		"bucket": "exports", "endpoint": srv.URL, "path_style": "true",
		"access_key_id": "key", "secret_access_key": "secret",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The engine puts the batch's name in the context of every write.
	ctx := connectors.WithBatchInfo(context.Background(), connectors.BatchInfo{
		Sync: "accounts-to-s3", Run: 1, Batch: "salesforce-001A", At: time.Date(2026, 3, 4, 6, 0, 0, 0, time.UTC),
	})
	res, err := c.Upsert(ctx, "Account", "Id", []connectors.Record{
		{Fields: map[string]any{"Id": "001A", "Name": "Acme"}},
		{Fields: map[string]any{"Id": "001B", "Name": "Globex"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res[1].ID)

	export := c.(*s3.Connector)
	keys, _ := export.List(context.Background(), "exports/accounts-to-s3/")
	fmt.Println(keys)
	lines, _ := export.Read(context.Background(), keys[0])
	fmt.Println(lines)
	// Output:
	// exports/accounts-to-s3/dt=2026-03-04/1-salesforce-001A.ndjson.gz#2
	// [exports/accounts-to-s3/dt=2026-03-04/1-salesforce-001A.ndjson.gz]
	// [map[Id:001A Name:Acme] map[Id:001B Name:Globex]]
}
