package graphtest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// BenchmarkServeBatch is the simulated tenant answering one $batch of 20
// industry-data operations, as the scale benchmarks send 500 of them per
// cold scrape of 10,000: the simulator's own CPU, which shares the
// exporter's cores there.
func BenchmarkServeBatch(b *testing.B) {
	tn := graphtest.NewTenant(b)
	var reqs []string
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("%08d-18c9-47a1-0fb1-08dad8e7a876", i)
		tn.SetOperation("/beta/external/industryData/operations/"+id, map[string]any{
			"id": id, "status": "running", "statusDetail": "", "resourceLocation": "",
			"createdDateTime": "2023-06-09T22:50:41.5414467Z", "lastActionDateTime": "2023-06-09T22:52:09.0296021Z"})
		reqs = append(reqs, fmt.Sprintf(`{"id":"%d","method":"GET","url":"/external/industryData/operations/%s"}`, i+1, id))
	}
	body := []byte(`{"requests":[` + strings.Join(reqs, ",") + `]}`)
	cred, err := confidential.NewCredFromSecret(tn.ClientSecret)
	if err != nil {
		b.Fatal(err)
	}
	app, err := confidential.New(tn.AuthorityHost+"/"+tn.TenantID, tn.ClientID, cred,
		confidential.WithHTTPClient(tn.HTTPClient()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		b.Fatal(err)
	}
	res, err := app.AcquireTokenByCredential(b.Context(), []string{tn.GraphEndpoint + "/.default"})
	if err != nil {
		b.Fatal(err)
	}
	hc := tn.HTTPClient()
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequestWithContext(b.Context(), http.MethodPost, tn.GraphEndpoint+"/beta/$batch", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+res.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n < 20*200 {
			b.Fatalf("%d, %d bytes", resp.StatusCode, n)
		}
	}
}
