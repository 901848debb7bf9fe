package local_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/okrahq/okra/internal/local"
)

func TestSubstituteTheRolloutDefinition(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", local.RolloutDefinitionPath))
	if err != nil {
		t.Fatal(err)
	}
	arns := map[string]string{}
	for _, fn := range []string{local.FunctionRolloutPlan, local.FunctionRolloutWeights, local.FunctionRolloutApproval,
		local.FunctionRolloutRollback, local.FunctionRolloutFinalize, local.FunctionCheckCloudWatch, local.FunctionCheckDatadog} {
		arns[fn] = local.FunctionARN(fn)
	}
	def, err := local.Substitute(string(raw), arns)
	if err != nil {
		t.Fatalf("Substitute: %v", err)
	}
	if strings.Contains(def, "${") {
		t.Fatalf("placeholders left in the definition")
	}
	if !json.Valid([]byte(def)) {
		t.Fatalf("the substituted definition is not JSON")
	}
	for _, fn := range []string{"okra-rollout-plan", "okra-rollout-weights", "okra-rollout-approval", "okra-rollout-rollback", "okra-rollout-finalize", "okra-check-cloudwatch", "okra-check-datadog"} {
		if want := "arn:aws:lambda:us-east-1:123456789012:function:" + fn; !strings.Contains(def, want) {
			t.Errorf("the definition never names %s", want)
		}
	}

	if _, err := local.Substitute(`{"Resource": "${NoSuchFunctionArn}"}`, arns); err == nil || !strings.Contains(err.Error(), "NoSuchFunctionArn") {
		t.Errorf("an unknown placeholder: %v, want an error naming it", err)
	}
	delete(arns, local.FunctionCheckDatadog)
	if _, err := local.Substitute(string(raw), arns); err == nil || !strings.Contains(err.Error(), "CheckDatadogFunctionArn") {
		t.Errorf("a function without an ARN: %v, want an error naming its placeholder", err)
	}
}
