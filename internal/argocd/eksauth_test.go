package argocd_test

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"k8s.io/client-go/kubernetes"

	"github.com/okrahq/okra/internal/argocd"
	"github.com/okrahq/okra/internal/testenv"
)

// offlinePresigner signs like production (real SDK, static credentials);
// presigning makes no network call.
func offlinePresigner() *sts.PresignClient {
	return sts.NewPresignClient(sts.New(sts.Options{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token"),
	}))
}

// decodeToken checks the token's framing and returns the presigned URL.
func decodeToken(t *testing.T, token string) *url.URL {
	t.Helper()
	payload, ok := strings.CutPrefix(token, "k8s-aws-v1.")
	if !ok {
		t.Fatalf("token %.20q... does not start with k8s-aws-v1.", token)
	}
	if strings.ContainsAny(payload, "=+/") {
		t.Fatalf("token payload is not unpadded base64url")
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatalf("token payload is not base64url: %v", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatalf("token payload is not a URL: %v", err)
	}
	return u
}

func TestNewTokenIsAPresignedGetCallerIdentity(t *testing.T) {
	token, err := argocd.NewToken(context.Background(), offlinePresigner(), "okra-control-plane")
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	u := decodeToken(t, token)
	if u.Scheme != "https" || u.Host != "sts.us-east-1.amazonaws.com" || (u.Path != "/" && u.Path != "") {
		t.Errorf("presigned URL %s://%s%s, want https://sts.us-east-1.amazonaws.com/", u.Scheme, u.Host, u.Path)
	}
	q := u.Query()
	want := map[string]string{
		"Action":          "GetCallerIdentity",
		"Version":         "2011-06-15",
		"X-Amz-Algorithm": "AWS4-HMAC-SHA256",
		"X-Amz-Expires":   "60",
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	signed := strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	if !contains(signed, "x-k8s-aws-id") || !contains(signed, "host") {
		t.Errorf("X-Amz-SignedHeaders = %v, want host and x-k8s-aws-id", signed)
	}
	if cred := q.Get("X-Amz-Credential"); !strings.HasPrefix(cred, "AKIDEXAMPLE/") || !strings.HasSuffix(cred, "/us-east-1/sts/aws4_request") {
		t.Errorf("X-Amz-Credential = %q", cred)
	}
	if q.Get("X-Amz-Signature") == "" || q.Get("X-Amz-Date") == "" || q.Get("X-Amz-Security-Token") != "session-token" {
		t.Errorf("query lacks a signature, a date or the session token: %v", keysOf(q))
	}
	// The cluster name travels in the signed header, not in the URL.
	if strings.Contains(u.String(), "okra-control-plane") {
		t.Errorf("cluster name leaked into the URL: the header must carry it")
	}
}

func TestNewTokenNeedsAClusterName(t *testing.T) {
	if _, err := argocd.NewToken(context.Background(), offlinePresigner(), ""); err == nil {
		t.Fatal("NewToken with no cluster name: want an error")
	}
}

// countingPresigner counts presignatures and records the cluster header.
type countingPresigner struct {
	next  argocd.Presigner
	calls atomic.Int32
	fail  error
}

func (p *countingPresigner) PresignGetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	p.calls.Add(1)
	if p.fail != nil {
		return nil, p.fail
	}
	return p.next.PresignGetCallerIdentity(ctx, in, optFns...)
}

type fakeEKS struct {
	cluster *ekstypes.Cluster
	err     error
}

func (f fakeEKS) DescribeCluster(_ context.Context, in *eks.DescribeClusterInput, _ ...func(*eks.Options)) (*eks.DescribeClusterOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	if aws.ToString(in.Name) != aws.ToString(f.cluster.Name) {
		return nil, fmt.Errorf("no cluster %q", aws.ToString(in.Name))
	}
	return &eks.DescribeClusterOutput{Cluster: f.cluster}, nil
}

// TestRESTConfigAuthenticatesWithEKSTokens stands up an HTTPS server in the
// place of the EKS API: client-go must trust its CA (from DescribeCluster)
// and present a token naming the cluster; after a 401 it signs a new one.
func TestRESTConfigAuthenticatesWithEKSTokens(t *testing.T) {
	var (
		mu       sync.Mutex
		tokens   []string
		reject   = true
		failures []string
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			failures = append(failures, "no bearer token")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		tokens = append(tokens, token)
		payload, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, "k8s-aws-v1."))
		u, err := url.Parse(string(payload))
		if err != nil || !strings.Contains(u.Query().Get("X-Amz-SignedHeaders"), "x-k8s-aws-id") {
			failures = append(failures, fmt.Sprintf("token is not a presigned URL with x-k8s-aws-id: %v", err))
		}
		if reject {
			reject = false
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"major":"1","minor":"34","gitVersion":"v1.34.4"}`)
	}))
	defer srv.Close()
	ca := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	api := fakeEKS{cluster: &ekstypes.Cluster{
		Name:                 aws.String("okra-control-plane"),
		Status:               ekstypes.ClusterStatusActive,
		Endpoint:             aws.String(srv.URL),
		CertificateAuthority: &ekstypes.Certificate{Data: aws.String(ca)},
	}}
	presigner := &countingPresigner{next: offlinePresigner()}

	cfg, err := argocd.RESTConfig(context.Background(), api, presigner, "okra-control-plane")
	if err != nil {
		t.Fatalf("RESTConfig: %v", err)
	}
	if cfg.BearerToken != "" || strings.Contains(cfg.String(), "k8s-aws-v1") {
		t.Fatalf("the config carries a static token; it must come from the transport")
	}
	if n := presigner.calls.Load(); n != 1 {
		t.Fatalf("RESTConfig presigned %d times, want 1 (a check at cold start)", n)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("NewForConfig: %v", err)
	}
	if _, err := kube.Discovery().ServerVersion(); err == nil {
		t.Fatal("first request: the server answered 401, want an error")
	}
	v, err := kube.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("second request: %v", err)
	}
	if v.GitVersion != "v1.34.4" {
		t.Fatalf("server version = %q", v.GitVersion)
	}
	if n := presigner.calls.Load(); n != 2 {
		t.Fatalf("presigned %d times, want 2: the cached token, then a new one after the 401", n)
	}
	if _, err := kube.Discovery().ServerVersion(); err != nil {
		t.Fatalf("third request: %v", err)
	}
	if n := presigner.calls.Load(); n != 2 {
		t.Fatalf("presigned %d times, want the token reused (2)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failures) > 0 {
		t.Fatalf("server saw bad requests: %v", failures)
	}
	if len(tokens) != 3 {
		t.Fatalf("server saw %d authenticated requests, want 3", len(tokens))
	}
}

func TestRESTConfigRefusesUnreadyClusters(t *testing.T) {
	ca := base64.StdEncoding.EncodeToString([]byte("pem"))
	cases := []struct {
		name    string
		api     fakeEKS
		wantErr string
	}{
		{name: "describe fails", api: fakeEKS{err: errors.New("AccessDenied")}, wantErr: "describing EKS cluster"},
		{name: "no endpoint", api: fakeEKS{cluster: &ekstypes.Cluster{Name: aws.String("cp"), Status: ekstypes.ClusterStatusCreating}}, wantErr: "no endpoint yet (status CREATING)"},
		{name: "no CA", api: fakeEKS{cluster: &ekstypes.Cluster{Name: aws.String("cp"), Endpoint: aws.String("https://x.eks.amazonaws.com")}}, wantErr: "no certificate authority"},
		{name: "CA not base64", api: fakeEKS{cluster: &ekstypes.Cluster{Name: aws.String("cp"), Endpoint: aws.String("https://x.eks.amazonaws.com"), CertificateAuthority: &ekstypes.Certificate{Data: aws.String("%%%")}}}, wantErr: "decoding the certificate authority"},
		{name: "http endpoint", api: fakeEKS{cluster: &ekstypes.Cluster{Name: aws.String("cp"), Endpoint: aws.String("http://x"), CertificateAuthority: &ekstypes.Certificate{Data: aws.String(ca)}}}, wantErr: "not an https URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := argocd.RESTConfig(context.Background(), tc.api, offlinePresigner(), "cp")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	t.Run("signing fails", func(t *testing.T) {
		api := fakeEKS{cluster: &ekstypes.Cluster{Name: aws.String("cp"), Endpoint: aws.String("https://x.eks.amazonaws.com"), CertificateAuthority: &ekstypes.Certificate{Data: aws.String(ca)}}}
		_, err := argocd.RESTConfig(context.Background(), api, &countingPresigner{fail: errors.New("no credentials")}, "cp")
		if err == nil || !strings.Contains(err.Error(), "presigning STS GetCallerIdentity") {
			t.Fatalf("err = %v, want a presigning error", err)
		}
	})
}

// TestRESTConfigFromMotoEKS builds the config from okra's AWS configuration
// pointed at the local emulator, as the local gateway and the demo do: host
// and CA from moto's eks:DescribeCluster, tokens presigned for moto's STS.
// (moto's CA is random bytes, so no TLS here; and moto cannot execute a
// presigned URL: it routes a request without an Authorization header to S3.)
func TestRESTConfigFromMotoEKS(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	ctx := context.Background()
	created, err := cfg.EKS().CreateCluster(ctx, &eks.CreateClusterInput{
		Name:               aws.String("okra-control-plane"),
		RoleArn:            aws.String("arn:aws:iam::123456789012:role/eks"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{"subnet-1"}},
	})
	if err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	t.Cleanup(func() {
		_, _ = cfg.EKS().DeleteCluster(context.Background(), &eks.DeleteClusterInput{Name: aws.String("okra-control-plane")})
	})
	rc, err := argocd.RESTConfig(ctx, cfg.EKS(), sts.NewPresignClient(cfg.STS()), "okra-control-plane")
	if err != nil {
		t.Fatalf("RESTConfig: %v", err)
	}
	if rc.Host != aws.ToString(created.Cluster.Endpoint) {
		t.Errorf("host = %q, want the cluster endpoint %q", rc.Host, aws.ToString(created.Cluster.Endpoint))
	}
	wantCA, _ := base64.StdEncoding.DecodeString(aws.ToString(created.Cluster.CertificateAuthority.Data))
	if len(rc.CAData) == 0 || string(rc.CAData) != string(wantCA) {
		t.Errorf("CA data (%d bytes) is not the cluster's decoded CA (%d bytes)", len(rc.CAData), len(wantCA))
	}
	if rc.WrapTransport == nil {
		t.Fatal("no token transport")
	}
	var seen string
	rt := rc.WrapTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r.Header.Get("Authorization")
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
	}))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rc.Host+"version", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if req.Header.Get("Authorization") != "" {
		t.Error("the transport modified the caller's request")
	}
	token, ok := strings.CutPrefix(seen, "Bearer ")
	if !ok {
		t.Fatalf("Authorization = %q, want a bearer token", seen)
	}
	u := decodeToken(t, token)
	moto, _ := url.Parse(testenv.SharedMoto(t).Endpoint)
	if u.Host != moto.Host || u.Query().Get("Action") != "GetCallerIdentity" || u.Query().Get("X-Amz-Expires") != "60" {
		t.Errorf("token URL = %s, want a GetCallerIdentity presigned for moto at %s", u.Redacted(), moto.Host)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keysOf(q url.Values) []string {
	var out []string
	for k := range q {
		out = append(out, k)
	}
	return out
}
