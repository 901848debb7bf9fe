// Command infra is okra's CDK app: one stack (NewOkraStack) with the
// DynamoDB table, the Lambda functions, the rollout state machine, the
// EventBridge rules, the notification topic, the Datadog secret and the
// alarms. `cdk deploy` from the repository root runs it (cdk.json);
// docs/deploy.md is the operator's guide.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	dynamodbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/okrahq/okra/internal/events"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/store"
)

// Names okra's resources are deployed under. The function names are
// "okra-" + the directory name under functions/.
const (
	stateMachineName = "okra-rollout"
	topicName        = "okra-notifications"
	aslPath          = "statemachines/rollout.asl.json"
)

// OkraStack is the synthesized stack and the constructs tests and the app
// look at.
type OkraStack struct {
	awscdk.Stack

	Table        awsdynamodb.Table
	Functions    map[string]awslambda.Function
	Roles        map[string]awsiam.Role
	StateMachine awsstepfunctions.StateMachine
	Topic        awssns.Topic
	TopicKey     awskms.Key
	// DataKey is the customer-managed key of the table, the log groups,
	// the created secret and the environment (CustomerManagedKey); nil
	// leaves them under AWS-managed keys.
	DataKey awskms.Key
	// LogGroups by function name; the state machine's is StateMachineLogs.
	LogGroups        map[string]awslogs.LogGroup
	StateMachineLogs awslogs.LogGroup
	// DatadogSecretArn is the secret's ARN (created or given).
	DatadogSecretArn string
	// DeadLetterQueues by function name.
	DeadLetterQueues map[string]awssqs.Queue
	Alarms           []awscloudwatch.Alarm
	// wildcards are each role's statements with a wildcard resource, and
	// res names them as cdk-nag does (nag.go).
	wildcards map[string][]statement
	res       resources
	// props are the props with defaults, for the scanner suppressions.
	props OkraStackProps
}

// NewOkraStack defines okra's stack. It panics on invalid props, as CDK
// constructs throw: the app validates them first (props.Validate).
func NewOkraStack(scope constructs.Construct, id string, props *OkraStackProps) *OkraStack {
	if props == nil {
		props = &OkraStackProps{}
	}
	if err := props.Validate(); err != nil {
		panic(err)
	}
	p := props.withDefaults()
	sprops := p.StackProps
	if sprops.Description == nil {
		sprops.Description = jsii.String("okra: hot-swaps EKS clusters behind ALB/NLB listeners (functions, rollout state machine, table, rules, alarms)")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sprops)
	s := &OkraStack{
		Stack:            stack,
		Functions:        map[string]awslambda.Function{},
		Roles:            map[string]awsiam.Role{},
		DeadLetterQueues: map[string]awssqs.Queue{},
		LogGroups:        map[string]awslogs.LogGroup{},
		wildcards:        map[string][]statement{},
		props:            p,
	}
	awscdk.Tags_Of(stack).Add(jsii.String(managedTag), jsii.String(managedValue), nil)
	if p.ControlPlaneClusterName == "" {
		awscdk.Annotations_Of(stack).AddWarningV2(jsii.String("okra:argocd"), jsii.String(
			"no controlPlaneClusterName: okra will not register clusters in ArgoCD (they are recorded in its table only); deploy with -c controlPlaneClusterName=NAME to register them"))
	}

	if p.CustomerManagedKey {
		s.DataKey = newDataKey(stack)
	}
	s.Table = newTable(stack, p, s.DataKey)
	s.TopicKey, s.Topic = newTopic(stack, p)
	s.DatadogSecretArn = datadogSecret(stack, p, s.DataKey)

	// The functions that start or inspect executions get the state
	// machine's ARN built from its name: the state machine itself refers
	// to the functions' ARNs, so a reference back would be a cycle.
	smArn := *stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("states"),
		Resource:     jsii.String("stateMachine"),
		ResourceName: jsii.String(stateMachineName),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	res := resources{
		stack:           stack,
		nagForm:         map[string]string{},
		tableArn:        *s.Table.TableArn(),
		stateMachineArn: smArn,
		topicArn:        *s.Topic.TopicArn(),
		topicKeyArn:     *s.TopicKey.KeyArn(),
		datadogSecret:   s.DatadogSecretArn,
	}
	res.listenerScope(p.ListenerArns)
	s.res = res

	retention := retentionOf(p.LogRetentionDays)
	for _, f := range functions {
		var dlq awssqs.Queue
		if f.Trigger != byStateMachine {
			dlq = newDeadLetterQueue(stack, f)
			s.DeadLetterQueues[f.Name] = dlq
		}
		code, err := p.Code.Code(f.Name)
		if err != nil {
			panic(err)
		}
		stmts := res.functionStatements(f, len(p.ListenerArns) > 0)
		if s.DataKey != nil {
			stmts = append(stmts, dataKeyStatement(*s.DataKey.KeyArn()))
		}
		fn, role, logs := newFunction(stack, f, p, code, retention, dlq, stmts, s.environment(f, p, smArn), s.DataKey)
		s.Functions[f.Name] = fn
		s.Roles[f.Name] = role
		s.LogGroups[f.Name] = logs
		for _, st := range stmts {
			if st.Wildcard != "" {
				s.wildcards[f.Name] = append(s.wildcards[f.Name], st)
			}
		}
	}

	s.StateMachine = s.newStateMachine(p, retention)
	s.newRules(p)
	s.newStreamSource()
	s.newAlarms()
	s.outputs()
	addNagSuppressions(s)
	addScannerSuppressions(s)
	return s
}

// newDataKey is the customer-managed key of the table, the log groups,
// the created secret and the functions' environment. CloudWatch Logs
// uses it through the key policy (for this account's log groups only);
// the functions through their roles (dataKeyStatement).
func newDataKey(stack awscdk.Stack) awskms.Key {
	key := awskms.NewKey(stack, jsii.String("DataKey"), &awskms.KeyProps{
		Description:       jsii.String("okra: encrypts the okra table, log groups, Datadog secret and function environment"),
		EnableKeyRotation: jsii.Bool(true),
		// The table is retained with the stack, and its data needs the key.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchLogsEncrypt"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs."+*stack.Region()+".amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]interface{}{
			"ArnLike": map[string]interface{}{
				"kms:EncryptionContext:aws:logs:arn": *stack.FormatArn(&awscdk.ArnComponents{
					Service: jsii.String("logs"), Resource: jsii.String("log-group"), ResourceName: jsii.String("*"),
					ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
				}),
			},
		},
	}), nil)
	return key
}

// dataKeyStatement lets a function use the data key: DynamoDB and
// Secrets Manager call KMS as the caller, Lambda decrypts the environment.
func dataKeyStatement(keyArn string) statement {
	return statement{
		Sid:       "UseDataKey",
		Actions:   []string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"},
		Resources: []string{keyArn},
	}
}

// environment is the function's environment: the options names each of
// its accesses needs.
func (s *OkraStack) environment(f function, p OkraStackProps, smArn string) map[string]*string {
	env := map[string]*string{options.EnvTableName: s.Table.TableName()}
	if f.has(startRollouts) || f.has(describeRollouts) {
		env[options.EnvStateMachineARN] = jsii.String(smArn)
	}
	if f.has(registerInArgoCD) {
		env[options.EnvArgoCDNamespace] = jsii.String(p.ArgoCDNamespace)
		if p.ControlPlaneClusterName != "" {
			env[options.EnvControlPlaneCluster] = jsii.String(p.ControlPlaneClusterName)
		}
		if p.ClusterRoleArn != "" {
			env[options.EnvClusterRoleARN] = jsii.String(p.ClusterRoleArn)
		}
	}
	if f.has(notify) {
		env[options.EnvNotificationTopicARN] = s.Topic.TopicArn()
	}
	if f.has(setWeights) {
		// The roles change only opted-in or named listeners
		// (permissions.go); the ingress check says so before a rollout
		// would fail on it.
		env[options.EnvListenerOptIn] = jsii.String(options.ListenerOptInRequired)
		if len(p.ListenerArns) > 0 {
			env[options.EnvListenerARNs] = jsii.String(strings.Join(p.ListenerArns, ","))
		}
	}
	if f.has(readDatadogKeys) {
		env[options.EnvDatadogSecretARN] = jsii.String(s.DatadogSecretArn)
		env[options.EnvDatadogSite] = jsii.String(p.DatadogSite)
	}
	if f.Name == "cluster-events" {
		env[options.EnvClusterActiveTimeout] = jsii.String(p.ClusterActiveTimeout.String())
	}
	return env
}

// newTable builds the table from store.Schema(), the one definition local
// runs use too.
func newTable(stack awscdk.Stack, p OkraStackProps, key awskms.Key) awsdynamodb.Table {
	schema := store.Schema()
	str := func(name string) *awsdynamodb.Attribute {
		return &awsdynamodb.Attribute{Name: jsii.String(name), Type: awsdynamodb.AttributeType_STRING}
	}
	props := &awsdynamodb.TableProps{
		TableName:     jsii.String(p.TableName),
		PartitionKey:  str(schema.PartitionKey),
		SortKey:       str(schema.SortKey),
		BillingMode:   billingMode(schema.BillingMode),
		Stream:        streamView(schema.StreamView),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(schema.PointInTimeRecovery),
		},
		DeletionProtection: jsii.Bool(true),
	}
	if schema.TTLAttribute != "" {
		props.TimeToLiveAttribute = jsii.String(schema.TTLAttribute)
	}
	if schema.Encrypted {
		// The AWS-managed key (aws/dynamodb): encrypted with KMS, with no
		// key policy to keep in step with every reader.
		props.Encryption = awsdynamodb.TableEncryption_AWS_MANAGED
		if key != nil {
			props.Encryption, props.EncryptionKey = awsdynamodb.TableEncryption_CUSTOMER_MANAGED, key
		}
	}
	table := awsdynamodb.NewTable(stack, jsii.String("Table"), props)
	for _, ix := range schema.Indexes {
		table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.Name),
			PartitionKey:   str(ix.PartitionKey),
			SortKey:        str(ix.SortKey),
			ProjectionType: projection(ix.Projection),
		})
	}
	return table
}

func billingMode(m dynamodbtypes.BillingMode) awsdynamodb.BillingMode {
	switch m {
	case dynamodbtypes.BillingModePayPerRequest:
		return awsdynamodb.BillingMode_PAY_PER_REQUEST
	case dynamodbtypes.BillingModeProvisioned:
		return awsdynamodb.BillingMode_PROVISIONED
	}
	panic(fmt.Sprintf("store.Schema: billing mode %q has no CDK equivalent", m))
}

func streamView(v dynamodbtypes.StreamViewType) awsdynamodb.StreamViewType {
	switch v {
	case dynamodbtypes.StreamViewTypeNewAndOldImages:
		return awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES
	case dynamodbtypes.StreamViewTypeNewImage:
		return awsdynamodb.StreamViewType_NEW_IMAGE
	case dynamodbtypes.StreamViewTypeOldImage:
		return awsdynamodb.StreamViewType_OLD_IMAGE
	case dynamodbtypes.StreamViewTypeKeysOnly:
		return awsdynamodb.StreamViewType_KEYS_ONLY
	}
	panic(fmt.Sprintf("store.Schema: stream view %q has no CDK equivalent", v))
}

func projection(t dynamodbtypes.ProjectionType) awsdynamodb.ProjectionType {
	switch t {
	case dynamodbtypes.ProjectionTypeAll:
		return awsdynamodb.ProjectionType_ALL
	case dynamodbtypes.ProjectionTypeKeysOnly:
		return awsdynamodb.ProjectionType_KEYS_ONLY
	}
	panic(fmt.Sprintf("store.Schema: projection %q is not supported by the stack", t))
}

// newTopic is the notification topic (rollout ends, alarms), encrypted
// with a customer-managed key: CloudWatch alarms cannot publish to a topic
// under the AWS-managed SNS key.
func newTopic(stack awscdk.Stack, p OkraStackProps) (awskms.Key, awssns.Topic) {
	key := awskms.NewKey(stack, jsii.String("NotificationsKey"), &awskms.KeyProps{
		Description:       jsii.String("okra: encrypts the okra-notifications SNS topic"),
		EnableKeyRotation: jsii.Bool(true),
		// Only messages in flight depend on it: it may go with the stack
		// (after KMS's waiting period).
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		PendingWindow: awscdk.Duration_Days(jsii.Number(7)),
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": stack.Account()},
		},
	}), nil)
	topic := awssns.NewTopic(stack, jsii.String("Notifications"), &awssns.TopicProps{
		TopicName:   jsii.String(topicName),
		DisplayName: jsii.String("okra"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*topic.TopicArn()),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": stack.Account()},
		},
	}))
	if p.NotificationEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(p.NotificationEmail), nil))
	}
	return key, topic
}

// datadogSecret returns the Datadog secret's ARN: the given one, or a new
// secret holding empty keys for the operator to fill in.
func datadogSecret(stack awscdk.Stack, p OkraStackProps, key awskms.Key) string {
	if p.DatadogSecretArn != "" {
		return p.DatadogSecretArn
	}
	secret := awssecretsmanager.NewSecret(stack, jsii.String("DatadogKeys"), &awssecretsmanager.SecretProps{
		Description: jsii.String(`okra: Datadog API and application keys, {"apiKey": "...", "appKey": "..."}; fill in after deploying (docs/deploy.md)`),
		// Empty placeholders, not keys: nothing secret is in the template.
		SecretStringValue: awscdk.SecretValue_UnsafePlainText(jsii.String(`{"apiKey":"","appKey":""}`)),
		// The keys are typed in by hand after deploying; keep them if the
		// stack goes.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		// nil: the AWS-managed aws/secretsmanager key.
		EncryptionKey: key,
	})
	return *secret.SecretArn()
}

func newDeadLetterQueue(stack awscdk.Stack, f function) awssqs.Queue {
	return awssqs.NewQueue(stack, jsii.String(camel(f.Name)+"DeadLetters"), &awssqs.QueueProps{
		QueueName:       jsii.String(f.deployedName() + "-dlq"),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
}

// newFunction builds one function with its own role, holding exactly
// stmts plus its logs, X-Ray and dead-letter queue; key (optional)
// encrypts its log group and environment.
func newFunction(stack awscdk.Stack, f function, p OkraStackProps, code awslambda.Code, retention awslogs.RetentionDays,
	dlq awssqs.Queue, stmts []statement, env map[string]*string, key awskms.Key) (awslambda.Function, awsiam.Role, awslogs.LogGroup) {
	id := camel(f.Name)
	logs := awslogs.NewLogGroup(stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/" + f.deployedName()),
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		EncryptionKey: key,
	})
	role := awsiam.NewRole(stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("okra: the " + f.deployedName() + " function"),
	})
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteLogs"),
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logs.LogGroupArn()),
	}))
	for _, st := range stmts {
		role.AddToPrincipalPolicy(st.policyStatement())
	}
	timeout := f.Timeout(p)
	props := &awslambda.FunctionProps{
		FunctionName:          jsii.String(f.deployedName()),
		Description:           jsii.String(f.Description),
		Runtime:               awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:          awslambda.Architecture_ARM_64(),
		Handler:               jsii.String("bootstrap"),
		Code:                  code,
		MemorySize:            jsii.Number(float64(f.MemoryMB)),
		Timeout:               awscdk.Duration_Seconds(jsii.Number(timeout.Seconds())),
		Tracing:               awslambda.Tracing_ACTIVE,
		LoggingFormat:         awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2: awslambda.ApplicationLogLevel_INFO,
		SystemLogLevelV2:      awslambda.SystemLogLevel_INFO,
		LogGroup:              logs,
		Role:                  role,
		Environment:           &env,
	}
	if key != nil {
		props.EnvironmentEncryption = key
	}
	if n := f.ReservedConcurrency(p); n > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(float64(n))
	}
	switch f.Trigger {
	case byClusterRule, byStatusRule:
		// Asynchronous (EventBridge): retry (a throttled event too, for
		// its whole age), then send the event with the error to the
		// queue (the on-failure destination).
		props.OnFailure = awslambdadestinations.NewSqsDestination(dlq)
		props.RetryAttempts = jsii.Number(2)
		props.MaxEventAge = awscdk.Duration_Hours(jsii.Number(6))
	case bySchedule:
		// A missed tick is caught by the next one: no retries, and an
		// event older than the schedule's period is dropped; failures
		// still land in the queue and raise its alarm.
		props.OnFailure = awslambdadestinations.NewSqsDestination(dlq)
		props.RetryAttempts = jsii.Number(0)
		props.MaxEventAge = awscdk.Duration_Minutes(jsii.Number(5))
	}
	fn := awslambda.NewFunction(stack, jsii.String(id), props)
	if props.OnFailure != nil {
		// The asynchronous-invoke settings name the function by the ARN
		// the EventBridge permission names (CDK writes its Ref, the name),
		// so readers and cfn-lint's ES1007 see they belong together.
		cfg := fn.Node().FindChild(jsii.String("EventInvokeConfig")).Node().DefaultChild().(awscdk.CfnResource)
		cfg.AddPropertyOverride(jsii.String("FunctionName"), fn.FunctionArn())
	}
	return fn, role, logs
}

func retentionOf(days int) awslogs.RetentionDays {
	m := map[int]awslogs.RetentionDays{
		1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
		7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
		60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
		150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
		400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
		1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
		2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
		3653: awslogs.RetentionDays_TEN_YEARS,
	}
	r, ok := m[days]
	if !ok {
		panic(fmt.Sprintf("log retention of %d days is not allowed", days))
	}
	return r
}

// placeholder matches a ${Name} substitution in the state machine
// definition.
var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// readDefinition returns the state machine definition and its
// substitutions: each ${...ArnName} mapped to the function that declares
// it. A placeholder no function declares is an error.
func (s *OkraStack) readDefinition(repoRoot string) (string, map[string]*string, error) {
	path := filepath.Join(repoRoot, aslPath)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("reading the state machine definition, %w", err)
	}
	def := string(b)
	subs := map[string]*string{}
	var unknown []string
	for _, m := range placeholder.FindAllStringSubmatch(def, -1) {
		name := m[1]
		if _, done := subs[name]; done {
			continue
		}
		fn := ""
		for _, f := range functions {
			if f.ASLArn == name {
				fn = f.Name
			}
		}
		if fn == "" {
			unknown = append(unknown, name)
			continue
		}
		subs[name] = s.Functions[fn].FunctionArn()
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return "", nil, fmt.Errorf("%s: no function provides ${%s} (set ASLArn in infra/functions.go)", path, strings.Join(unknown, "}, ${"))
	}
	return def, subs, nil
}

func (s *OkraStack) newStateMachine(p OkraStackProps, retention awslogs.RetentionDays) awsstepfunctions.StateMachine {
	def, subs, err := s.readDefinition(p.RepoRoot)
	if err != nil {
		panic(err)
	}
	logs := awslogs.NewLogGroup(s.Stack, jsii.String("RolloutLogs"), &awslogs.LogGroupProps{
		// /aws/vendedlogs/ keeps CloudWatch Logs' resource policy small.
		LogGroupName:  jsii.String("/aws/vendedlogs/states/" + stateMachineName),
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		EncryptionKey: s.DataKey,
	})
	s.StateMachineLogs = logs
	sm := awsstepfunctions.NewStateMachine(s.Stack, jsii.String("Rollout"), &awsstepfunctions.StateMachineProps{
		StateMachineName:        jsii.String(stateMachineName),
		StateMachineType:        awsstepfunctions.StateMachineType_STANDARD,
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(def)),
		DefinitionSubstitutions: &subs,
		Timeout:                 awscdk.Duration_Hours(jsii.Number(p.RolloutTimeout.Hours())),
		TracingEnabled:          jsii.Bool(true),
		Logs: &awsstepfunctions.LogOptions{
			Destination: logs,
			Level:       awsstepfunctions.LogLevel_ALL,
			// Execution data is Cell names, versions, weights, target
			// group ARNs, analysis queries and measurements, and the
			// approval task token (usable only with states:SendTask*).
			// No secret passes through the state machine: the Datadog
			// keys stay in Secrets Manager.
			IncludeExecutionData: jsii.Bool(true),
		},
	})
	// Invoke exactly the functions the definition names (unqualified ARNs,
	// so no ":*" for versions).
	var arns []string
	for _, name := range sortedKeys(subs) {
		arns = append(arns, *subs[name])
	}
	sm.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("InvokeRolloutFunctions"),
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: jsii.Strings(arns...),
	}))
	return sm
}

// eventPattern copies an events.Pattern field by field.
func eventPattern(p events.Pattern) *awsevents.EventPattern {
	return &awsevents.EventPattern{
		Source:     jsii.Strings(p.Source...),
		DetailType: jsii.Strings(p.DetailType...),
		Detail:     &p.Detail,
	}
}

func (s *OkraStack) newRules(p OkraStackProps) {
	target := func(fn string, age time.Duration) awsevents.IRuleTarget {
		return awseventstargets.NewLambdaFunction(s.Functions[fn], &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: s.DeadLetterQueues[fn],
			RetryAttempts:   jsii.Number(8),
			MaxEventAge:     awscdk.Duration_Seconds(jsii.Number(age.Seconds())),
		})
	}
	awsevents.NewRule(s.Stack, jsii.String("ClusterEventsRule"), &awsevents.RuleProps{
		RuleName:     jsii.String("okra-cluster-events"),
		Description:  jsii.String("okra: EKS CreateCluster, TagResource, UntagResource and DeleteCluster calls (CloudTrail) to okra-cluster-events"),
		EventPattern: eventPattern(events.ClusterEventPattern()),
		Targets:      &[]awsevents.IRuleTarget{target("cluster-events", 2*time.Hour)},
	})
	awsevents.NewRule(s.Stack, jsii.String("ReconcileSchedule"), &awsevents.RuleProps{
		RuleName:    jsii.String("okra-reconcile"),
		Description: jsii.String("okra: periodic full reconcile"),
		Schedule:    awsevents.Schedule_Expression(jsii.String(p.ReconcileSchedule)),
		Targets:     &[]awsevents.IRuleTarget{target("reconcile", 5*time.Minute)},
	})
	awsevents.NewRule(s.Stack, jsii.String("SafetyNetRule"), &awsevents.RuleProps{
		RuleName:     jsii.String("okra-safety-net"),
		Description:  jsii.String("okra: rollout executions that failed, timed out or were aborted, to okra-safety-net"),
		EventPattern: eventPattern(events.ExecutionStatusPattern(*s.StateMachine.StateMachineArn())),
		Targets:      &[]awsevents.IRuleTarget{target("safety-net", 24*time.Hour)},
	})
}

// newStreamSource feeds Cell spec (and shared template) changes to
// config-change.
func (s *OkraStack) newStreamSource() {
	fn := s.Functions["config-change"]
	fn.AddEventSource(awslambdaeventsources.NewDynamoEventSource(s.Table, &awslambdaeventsources.DynamoEventSourceProps{
		// From the oldest record: the mapping is created after the
		// table, and a spec written in between must not be missed.
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(10),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(1)),
		BisectBatchOnError:      jsii.Bool(true),
		ReportBatchItemFailures: jsii.Bool(true),
		RetryAttempts:           jsii.Number(5),
		MaxRecordAge:            awscdk.Duration_Hours(jsii.Number(6)),
		ParallelizationFactor:   jsii.Number(1),
		OnFailure:               awslambdaeventsources.NewSqsDlq(s.DeadLetterQueues["config-change"]),
		Filters: &[]*map[string]interface{}{
			awslambda.FilterCriteria_Filter(&map[string]interface{}{
				"dynamodb": map[string]interface{}{
					"Keys": map[string]interface{}{
						store.AttrSK: map[string]interface{}{"S": []string{store.SKSpec}},
					},
				},
			}),
		},
	}))
}

func (s *OkraStack) newAlarms() {
	action := awscloudwatchactions.NewSnsAction(s.Topic)
	five := awscdk.Duration_Minutes(jsii.Number(5))
	alarm := func(id, name, description string, metric awscloudwatch.IMetric, threshold float64) {
		a := awscloudwatch.NewAlarm(s.Stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(name),
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		s.Alarms = append(s.Alarms, a)
	}
	sum := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}
	alarm("RolloutsFailedAlarm", "okra-rollouts-failed", "okra: a rollout execution failed (the safety net restores the stable weights; see the execution and the Cell history)", s.StateMachine.MetricFailed(sum), 1)
	alarm("RolloutsTimedOutAlarm", "okra-rollouts-timed-out", "okra: a rollout execution timed out", s.StateMachine.MetricTimedOut(sum), 1)
	alarm("RolloutsAbortedAlarm", "okra-rollouts-aborted", "okra: a rollout execution was aborted (stopped)", s.StateMachine.MetricAborted(sum), 1)
	for _, f := range functions {
		fn, id := s.Functions[f.Name], camel(f.Name)
		alarm(id+"ErrorsAlarm", f.deployedName()+"-errors", "okra: "+f.deployedName()+" returned errors", fn.MetricErrors(sum), 1)
		alarm(id+"ThrottlesAlarm", f.deployedName()+"-throttles", "okra: "+f.deployedName()+" was throttled", fn.MetricThrottles(sum), 1)
	}
	for _, f := range functions {
		q, ok := s.DeadLetterQueues[f.Name]
		if !ok {
			continue
		}
		alarm(camel(f.Name)+"DeadLettersAlarm", f.deployedName()+"-dead-letters",
			"okra: events for "+f.deployedName()+" could not be processed and wait in "+f.deployedName()+"-dlq",
			q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}), 1)
	}
	alarm("ConfigChangeIteratorAgeAlarm", "okra-config-change-iterator-age",
		"okra: Cell spec changes wait more than 5 minutes in the table's stream",
		s.Functions["config-change"].Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}),
		5*60*1000)
}

func (s *OkraStack) outputs() {
	out := func(id, description string, value *string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), &awscdk.CfnOutputProps{Description: jsii.String(description), Value: value})
	}
	out("TableName", "okra's DynamoDB table (OKRA_TABLE_NAME for the okra CLI)", s.Table.TableName())
	out("StateMachineArn", "the rollout state machine", s.StateMachine.StateMachineArn())
	out("NotificationTopicArn", "rollout notifications and alarms; subscribe to it", s.Topic.TopicArn())
	out("DatadogSecretArn", `put {"apiKey": "...", "appKey": "..."} here`, jsii.String(s.DatadogSecretArn))
	for _, f := range functions {
		if f.has(registerInArgoCD) {
			out(camel(f.Name)+"RoleArn", "needs an EKS access entry in the control-plane cluster (docs/deploy.md)", s.Roles[f.Name].RoleArn())
		}
	}
}

// camel turns "rollout-plan" into "RolloutPlan".
func camel(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
