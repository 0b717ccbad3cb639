package graphtest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/msgraph-lro/msgraph_lro_exporter/graph/graphtest"
)

// Start is what --demo uses: a tenant not bound to a test, read with the
// real MSAL client and a plain HTTP client.
func ExampleStart() {
	tn, err := graphtest.Start()
	if err != nil {
		panic(err)
	}
	defer tn.Close()
	tn.SetOperation(alertPath, alertRunning())

	cred, err := confidential.NewCredFromSecret(tn.ClientSecret)
	if err != nil {
		panic(err)
	}
	app, err := confidential.New(tn.AuthorityHost+"/"+tn.TenantID, tn.ClientID, cred,
		confidential.WithHTTPClient(tn.HTTPClient()),
		confidential.WithInstanceDiscovery(false)) // never ask login.microsoftonline.com
	if err != nil {
		panic(err)
	}
	res, err := app.AcquireTokenByCredential(context.Background(), []string{tn.GraphEndpoint + "/.default"})
	if err != nil {
		panic(err)
	}

	req, _ := http.NewRequest(http.MethodGet, tn.GraphEndpoint+alertPath+"?$select=status", nil)
	req.Header.Set("Authorization", "Bearer "+res.AccessToken)
	resp, err := tn.HTTPClient().Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body[len(body)-20:]))
	// Output: 200 ,"status":"running"}
}

// A device code sign-in with MSAL's public client, the example playing the
// user who enters the code, and a password-reset operation read with the
// delegated token.
func ExampleTenant_ApproveDeviceCode() {
	tn, err := graphtest.Start()
	if err != nil {
		panic(err)
	}
	defer tn.Close()
	tn.SetOperation(resetPath, passwordReset())
	tn.AddUser("admin@contoso.com", graphtest.RoleGlobalReader)

	app, err := public.New(tn.ClientID,
		public.WithAuthority(tn.AuthorityHost+"/"+tn.TenantID),
		public.WithHTTPClient(tn.HTTPClient()),
		public.WithInstanceDiscovery(false))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	dc, err := app.AcquireTokenByDeviceCode(ctx, []string{tn.GraphEndpoint + "/.default"})
	if err != nil {
		panic(err)
	}
	// What a person does with dc.Result.Message.
	if err := tn.ApproveDeviceCode(dc.Result.UserCode, "admin@contoso.com"); err != nil {
		panic(err)
	}
	res, err := dc.AuthenticationResult(ctx)
	if err != nil {
		panic(err)
	}

	req, _ := http.NewRequest(http.MethodGet, tn.GraphEndpoint+resetPath+"?$select=status", nil)
	req.Header.Set("Authorization", "Bearer "+res.AccessToken)
	resp, err := tn.HTTPClient().Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	fmt.Println(res.Account.PreferredUsername, resp.StatusCode)
	// Output: admin@contoso.com 200
}
