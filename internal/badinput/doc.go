// Package badinput is okra's bad-input corpus and the tests that feed it
// through the real entry points against moto: invalid Cell specs through
// `okra cell apply` and, as DynamoDB stream records, the config-change
// handler; malformed and foreign EKS events through the cluster-events
// handler; malformed Step Functions status-change events through the
// safety net. Each input must be rejected or ignored with a message naming
// the field or the reason (testdata/*/cases.tsv lists the expected
// substring per file) and change nothing in AWS or DynamoDB.
//
// The package holds no code outside its tests; it must not be imported.
package badinput
