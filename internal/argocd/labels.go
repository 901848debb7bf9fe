package argocd

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// SkippedTag is an EKS tag that could not become a Kubernetes label.
type SkippedTag struct {
	Key    string
	Reason string
}

func (s SkippedTag) String() string { return fmt.Sprintf("tag %q: %s", s.Key, s.Reason) }

// reservedLabelDomains are label prefixes a tag may not write: they carry
// the secret's meaning for ArgoCD and okra (a tag
// argocd.argoproj.io/secret-type=repository would unregister the cluster).
var reservedLabelDomains = []string{"argocd.argoproj.io", "okra.dev"}

// TagLabels turns a cluster's EKS tags into Kubernetes labels for its
// ArgoCD cluster secret, so an ApplicationSet cluster generator can select
// clusters by tag. EKS allows characters, lengths and prefixes that labels
// do not, so each tag is sanitized:
//
//   - A key with a '/' is split at the first one into a prefix and a name.
//     The prefix is lowercased and every character other than a-z, 0-9,
//     '.' and '-' becomes '-' ("My_Corp.io/x" -> "my-corp.io/x"); it must
//     then be a DNS subdomain of at most 253 characters.
//   - In the name and the value every character other than A-Z, a-z, 0-9,
//     '.', '_' and '-' becomes '_' ("Cost Center" -> "Cost_Center",
//     "aws:cloudformation:stack-name" -> "aws_cloudformation_stack-name"),
//     then leading and trailing punctuation is trimmed. Names and values
//     must then be at most 63 characters; they are never truncated, since a
//     shortened label would silently match a different selector.
//   - Keys under argocd.argoproj.io/, okra.dev/ (and their subdomains) and
//     app.kubernetes.io/managed-by are okra's and are refused.
//   - When two tags become the same label key, a tag whose key was already
//     valid wins, else the one whose key sorts first.
//
// Tags that cannot be made valid are returned as skipped, sorted by key.
func TagLabels(tags map[string]string) (map[string]string, []SkippedTag) {
	type candidate struct {
		tag, key, value string
		asIs            bool
	}
	var (
		cands   []candidate
		skipped []SkippedTag
	)
	for tag, value := range tags {
		key, err := labelKey(tag)
		if err != nil {
			skipped = append(skipped, SkippedTag{Key: tag, Reason: err.Error()})
			continue
		}
		v, err := labelValue(value)
		if err != nil {
			skipped = append(skipped, SkippedTag{Key: tag, Reason: err.Error()})
			continue
		}
		cands = append(cands, candidate{tag: tag, key: key, value: v, asIs: key == tag})
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].asIs != cands[j].asIs {
			return cands[i].asIs
		}
		return cands[i].tag < cands[j].tag
	})
	labels := make(map[string]string, len(cands))
	from := make(map[string]string, len(cands))
	for _, c := range cands {
		if other, taken := from[c.key]; taken {
			skipped = append(skipped, SkippedTag{Key: c.tag,
				Reason: fmt.Sprintf("becomes label key %q, which tag %q already sets", c.key, other)})
			continue
		}
		labels[c.key] = c.value
		from[c.key] = c.tag
	}
	sort.Slice(skipped, func(i, j int) bool { return skipped[i].Key < skipped[j].Key })
	return labels, skipped
}

// labelKey sanitizes an EKS tag key into a label key.
func labelKey(tag string) (string, error) {
	prefix, name, hasPrefix := strings.Cut(strings.TrimSpace(tag), "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	name = sanitizeName(name)
	if name == "" {
		return "", fmt.Errorf("label name would be empty (no letters or digits after the prefix)")
	}
	if len(name) > validation.LabelValueMaxLength {
		return "", fmt.Errorf("label name %q is longer than %d characters", name, validation.LabelValueMaxLength)
	}
	key := name
	if hasPrefix {
		prefix = sanitizePrefix(prefix)
		if prefix == "" {
			return "", fmt.Errorf("prefix has no letters or digits")
		}
		if errs := validation.IsDNS1123Subdomain(prefix); len(errs) > 0 {
			return "", fmt.Errorf("prefix %q is not a DNS subdomain: %s", prefix, strings.Join(errs, "; "))
		}
		key = prefix + "/" + name
		for _, d := range reservedLabelDomains {
			if prefix == d || strings.HasSuffix(prefix, "."+d) {
				return "", fmt.Errorf("label key %q is under %s/, which okra owns", key, d)
			}
		}
		if key == LabelManagedBy {
			return "", fmt.Errorf("label key %q is okra's", key)
		}
	}
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return "", fmt.Errorf("label key %q is invalid: %s", key, strings.Join(errs, "; "))
	}
	return key, nil
}

// labelValue sanitizes an EKS tag value into a label value.
func labelValue(value string) (string, error) {
	v := sanitizeName(value)
	if len(v) > validation.LabelValueMaxLength {
		return "", fmt.Errorf("value is longer than %d characters", validation.LabelValueMaxLength)
	}
	if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
		return "", fmt.Errorf("value %q is invalid: %s", v, strings.Join(errs, "; "))
	}
	return v, nil
}

// sanitizeName maps a string onto label-name characters and trims what a
// label name may not start or end with.
func sanitizeName(s string) string {
	mapped := strings.Map(func(r rune) rune {
		if r < 128 && (isAlnum(byte(r)) || r == '-' || r == '_' || r == '.') {
			return r
		}
		return '_'
	}, strings.TrimSpace(s))
	return strings.TrimFunc(mapped, func(r rune) bool { return !isAlnum(byte(r)) })
}

// sanitizePrefix maps a string onto DNS-subdomain characters, trimming
// what a DNS label may not start or end with.
func sanitizePrefix(s string) string {
	mapped := strings.Map(func(r rune) rune {
		if r < 128 && (isLowerAlnum(byte(r)) || r == '-' || r == '.') {
			return r
		}
		return '-'
	}, strings.ToLower(strings.TrimSpace(s)))
	var kept []string
	for _, p := range strings.Split(mapped, ".") {
		if p = strings.Trim(p, "-"); p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ".")
}

func isAlnum(c byte) bool {
	return isLowerAlnum(c) || c >= 'A' && c <= 'Z'
}

func isLowerAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}
