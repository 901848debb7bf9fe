package argocd

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"k8s.io/client-go/rest"
)

// EKS IAM authentication, as aws-iam-authenticator and `aws eks get-token`
// do it: the token is a presigned STS GetCallerIdentity URL that names the
// cluster in a signed header; EKS calls it to learn who is asking.
const (
	// TokenPrefix starts every EKS bearer token.
	TokenPrefix = "k8s-aws-v1."
	// ClusterIDHeader names the cluster inside the signed request.
	ClusterIDHeader = "x-k8s-aws-id"
	// presignExpiresSeconds is the X-Amz-Expires of the presigned URL.
	presignExpiresSeconds = 60
	// TokenLifetime is how long EKS accepts a token after signing it,
	// whatever X-Amz-Expires says.
	TokenLifetime = 15 * time.Minute
	// tokenRenewBefore renews a cached token this long before EKS would
	// refuse it, leaving room for clock skew and slow requests.
	tokenRenewBefore = 5 * time.Minute
)

// Presigner is the part of *sts.PresignClient okra uses.
type Presigner interface {
	PresignGetCallerIdentity(ctx context.Context, params *sts.GetCallerIdentityInput, optFns ...func(*sts.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// EKSAPI is the part of *eks.Client okra uses to reach a cluster.
type EKSAPI interface {
	DescribeCluster(ctx context.Context, params *eks.DescribeClusterInput, optFns ...func(*eks.Options)) (*eks.DescribeClusterOutput, error)
}

// NewToken signs a fresh EKS bearer token for the cluster:
// "k8s-aws-v1." + base64url (no padding) of a presigned STS
// GetCallerIdentity URL with X-Amz-Expires=60 and the x-k8s-aws-id header
// signed. The token is a credential: never log it.
func NewToken(ctx context.Context, p Presigner, clusterName string) (string, error) {
	if clusterName == "" {
		return "", fmt.Errorf("signing an EKS token: cluster name is empty")
	}
	req, err := p.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(po *sts.PresignOptions) {
		po.ClientOptions = append(po.ClientOptions, func(o *sts.Options) {
			o.APIOptions = append(o.APIOptions,
				smithyhttp.SetHeaderValue(ClusterIDHeader, clusterName),
				// An X-Amz-* header is hoisted into the presigned query.
				smithyhttp.SetHeaderValue("X-Amz-Expires", strconv.Itoa(presignExpiresSeconds)),
			)
		})
	})
	if err != nil {
		return "", fmt.Errorf("presigning STS GetCallerIdentity for EKS cluster %q, %w", clusterName, err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(req.URL)), nil
}

// TokenSource caches an EKS token and signs a new one before EKS would
// refuse the old one. It is safe for concurrent use.
type TokenSource struct {
	presigner Presigner
	cluster   string
	now       func() time.Time

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

// NewTokenSource returns a token source for the cluster.
func NewTokenSource(p Presigner, clusterName string) *TokenSource {
	return &TokenSource{presigner: p, cluster: clusterName, now: time.Now}
}

// Token returns the cached token, or signs a new one when it is older than
// TokenLifetime minus a safety margin.
func (s *TokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.renewAt) {
		return s.token, nil
	}
	signedAt := s.now()
	token, err := NewToken(ctx, s.presigner, s.cluster)
	if err != nil {
		return "", err
	}
	s.token, s.renewAt = token, signedAt.Add(TokenLifetime-tokenRenewBefore)
	return token, nil
}

// invalidate drops the cached token so the next request signs a new one.
func (s *TokenSource) invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == token {
		s.token = ""
	}
}

// WrapTransport puts the current token on every request (for
// rest.Config.WrapTransport). A 401 drops the cached token, so the next
// request signs a new one.
func (s *TokenSource) WrapTransport(rt http.RoundTripper) http.RoundTripper {
	return &bearerTransport{source: s, next: rt}
}

type bearerTransport struct {
	source *TokenSource
	next   http.RoundTripper
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	token, err := t.source.Token(req.Context())
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := t.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		t.source.invalidate(token)
	}
	return resp, err
}

// RESTConfig reaches an EKS cluster (the control-plane cluster that runs
// ArgoCD) from Lambda without an exec plugin: host and CA from
// eks:DescribeCluster, and an EKS token signed with okra's own credentials
// on every request, renewed before it expires. The config holds no static
// credential, so printing it leaks nothing.
func RESTConfig(ctx context.Context, eksAPI EKSAPI, p Presigner, clusterName string) (*rest.Config, error) {
	out, err := eksAPI.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: &clusterName})
	if err != nil {
		return nil, fmt.Errorf("describing EKS cluster %q, %w", clusterName, err)
	}
	c := out.Cluster
	if c == nil || c.Endpoint == nil || *c.Endpoint == "" {
		return nil, fmt.Errorf("EKS cluster %q has no endpoint yet (status %s)", clusterName, clusterStatus(out))
	}
	if c.CertificateAuthority == nil || c.CertificateAuthority.Data == nil || *c.CertificateAuthority.Data == "" {
		return nil, fmt.Errorf("EKS cluster %q has no certificate authority yet (status %s)", clusterName, clusterStatus(out))
	}
	ca, err := base64.StdEncoding.DecodeString(*c.CertificateAuthority.Data)
	if err != nil {
		return nil, fmt.Errorf("decoding the certificate authority of EKS cluster %q, %w", clusterName, err)
	}
	if err := checkEndpoint(*c.Endpoint); err != nil {
		return nil, fmt.Errorf("EKS cluster %q: endpoint %w", clusterName, err)
	}
	tokens := NewTokenSource(p, clusterName)
	// Sign once now so a credential problem shows at cold start, not on the
	// first request.
	if _, err := tokens.Token(ctx); err != nil {
		return nil, err
	}
	return &rest.Config{
		Host:            *c.Endpoint,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca},
		WrapTransport:   tokens.WrapTransport,
		UserAgent:       "okra",
	}, nil
}

func clusterStatus(out *eks.DescribeClusterOutput) string {
	if out.Cluster == nil {
		return "unknown"
	}
	return string(out.Cluster.Status)
}
