package testenv_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/testenv"
)

func TestDynamoDBConditionalWrites(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	ctx := context.Background()
	c := cfg.DynamoDB()
	table := testenv.UniqueName("okra")

	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange},
		},
	}); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}

	lease := func(owner string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{
			"pk":    &ddbtypes.AttributeValueMemberS{Value: "CELL#web"},
			"sk":    &ddbtypes.AttributeValueMemberS{Value: "STATUS"},
			"owner": &ddbtypes.AttributeValueMemberS{Value: owner},
		}
	}
	put := func(owner string) error {
		_, err := c.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:           aws.String(table),
			Item:                lease(owner),
			ConditionExpression: aws.String("attribute_not_exists(pk) OR #o = :o"),
			ExpressionAttributeNames: map[string]string{
				"#o": "owner",
			},
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
				":o": &ddbtypes.AttributeValueMemberS{Value: owner},
			},
		})
		return err
	}

	if err := put("exec-1"); err != nil {
		t.Fatalf("first conditional PutItem: %v", err)
	}
	if err := put("exec-1"); err != nil {
		t.Fatalf("owner renewing its lease: %v", err)
	}
	err := put("exec-2")
	if err == nil {
		t.Fatal("second owner took the lease; want ConditionalCheckFailedException")
	}
	if !awsapi.IsConditionFailed(err) {
		t.Fatalf("error = %v (code %q), want IsConditionFailed", err, awsapi.Code(err))
	}
	var typed *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &typed) {
		t.Fatalf("error %T is not a *types.ConditionalCheckFailedException", err)
	}

	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "CELL#web"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "STATUS"}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	if owner, ok := got.Item["owner"].(*ddbtypes.AttributeValueMemberS); !ok || owner.Value != "exec-1" {
		t.Fatalf("lease owner = %v, want exec-1 (the refused write must change nothing)", got.Item["owner"])
	}

	_, err = c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table + "-missing"),
		Key:       map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "x"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "y"}},
	})
	if !awsapi.IsNotFound(err) {
		t.Fatalf("GetItem on a missing table: error = %v (code %q), want not found", err, awsapi.Code(err))
	}
}

// putAndGetMetric writes three datapoints of a custom metric and reads
// their sum back with GetMetricData.
func putAndGetMetric(ctx context.Context, c *cloudwatch.Client, namespace string) (*cloudwatch.GetMetricDataOutput, error) {
	now := time.Now().UTC().Truncate(time.Minute)
	dims := []cwtypes.Dimension{{Name: aws.String("TargetGroup"), Value: aws.String("targetgroup/web-v2/0123456789abcdef")}}
	var data []cwtypes.MetricDatum
	for i, v := range []float64{1, 2, 4} {
		data = append(data, cwtypes.MetricDatum{
			MetricName: aws.String("HTTPCode_Target_5XX_Count"),
			Dimensions: dims,
			Timestamp:  aws.Time(now.Add(-time.Duration(i) * time.Second)),
			Value:      aws.Float64(v),
			Unit:       cwtypes.StandardUnitCount,
		})
	}
	if _, err := c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(namespace), MetricData: data}); err != nil {
		return nil, err
	}
	return c.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-10 * time.Minute)),
		EndTime:   aws.Time(now.Add(10 * time.Minute)),
		MetricDataQueries: []cwtypes.MetricDataQuery{{
			Id: aws.String("errors"),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{
					Namespace:  aws.String(namespace),
					MetricName: aws.String("HTTPCode_Target_5XX_Count"),
					Dimensions: dims,
				},
				Period: aws.Int32(3600),
				Stat:   aws.String("Sum"),
			},
			ReturnData: aws.Bool(true),
		}},
	})
}

func TestCloudWatchMetricsOverAWSQuery(t *testing.T) {
	cfg, counter := testenv.AWS(t)
	out, err := putAndGetMetric(context.Background(), cfg.CloudWatch(), testenv.UniqueName("okra-test"))
	if err != nil {
		t.Fatalf("CloudWatch over awsquery: %v", err)
	}
	if len(out.MetricDataResults) != 1 {
		t.Fatalf("got %d results, want 1", len(out.MetricDataResults))
	}
	r := out.MetricDataResults[0]
	if aws.ToString(r.Id) != "errors" {
		t.Errorf("result id = %q, want errors", aws.ToString(r.Id))
	}
	if len(r.Values) != 1 || math.Abs(r.Values[0]-7) > 1e-9 {
		t.Fatalf("values = %v, want [7] (the sum of 1, 2 and 4 in one period)", r.Values)
	}
	if len(r.Timestamps) != len(r.Values) {
		t.Errorf("%d timestamps for %d values", len(r.Timestamps), len(r.Values))
	}
	if n := counter.Count("CloudWatch.GetMetricData"); n != 1 {
		t.Errorf("counted %d GetMetricData calls, want 1", n)
	}
}

func TestCloudWatchDefaultProtocolFailsAgainstMoto(t *testing.T) {
	// This is why awsapi.Config.CloudWatch switches protocol for custom
	// endpoints. If this test starts failing, moto learned RPCv2 CBOR and
	// the switch can go.
	cfg, _ := testenv.AWS(t)
	cbor := cloudwatch.NewFromConfig(cfg.AWS, func(o *cloudwatch.Options) {
		o.RetryMaxAttempts = 1
	})
	_, err := putAndGetMetric(context.Background(), cbor, testenv.UniqueName("okra-cbor"))
	if err == nil {
		t.Fatal("the SDK's default CloudWatch protocol (RPCv2 CBOR) worked against moto; awsapi's awsquery switch may no longer be needed")
	}
	// The request reached moto and moto refused it: not a network error.
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() < 400 {
		t.Fatalf("default protocol error = %v, want an HTTP error response from moto", err)
	}
	t.Logf("default protocol against moto fails as expected: %v", err)
}

func TestSecretsManager(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	ctx := context.Background()
	c := cfg.SecretsManager()
	name := "okra/" + testenv.UniqueName("datadog")
	secret := `{"apiKey":"k","appKey":"a"}`
	created, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(secret)})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	for _, id := range []string{name, aws.ToString(created.ARN)} {
		got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetSecretValue(%s): %v", id, err)
		}
		if aws.ToString(got.SecretString) != secret {
			t.Fatalf("GetSecretValue(%s) = %q, want %q", id, aws.ToString(got.SecretString), secret)
		}
	}
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name + "-missing")})
	if !awsapi.IsNotFound(err) {
		t.Fatalf("GetSecretValue(missing) error = %v (code %q), want not found", err, awsapi.Code(err))
	}
}

// newQueue creates an SQS queue and returns its URL and ARN.
func newQueue(t *testing.T, c *sqs.Client) (string, string) {
	t.Helper()
	ctx := context.Background()
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.UniqueName("okra"))})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	return aws.ToString(q.QueueUrl), attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
}

// receiveOne waits up to a few seconds for one message.
func receiveOne(t *testing.T, c *sqs.Client, queueURL string) sqstypes.Message {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(queueURL),
			MaxNumberOfMessages: 1,
			WaitTimeSeconds:     1,
		})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		if len(out.Messages) == 1 {
			return out.Messages[0]
		}
	}
	t.Fatalf("no message on %s within 5s", queueURL)
	return sqstypes.Message{}
}

func TestSQS(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	ctx := context.Background()
	c := cfg.SQS()
	url, _ := newQueue(t, c)
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(`{"cell":"web"}`)}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	m := receiveOne(t, c, url)
	if aws.ToString(m.Body) != `{"cell":"web"}` {
		t.Fatalf("body = %q", aws.ToString(m.Body))
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 0})
	if err != nil {
		t.Fatalf("ReceiveMessage after delete: %v", err)
	}
	if len(out.Messages) != 0 {
		t.Fatalf("deleted message delivered again: %v", out.Messages)
	}
}

func TestSNSPublish(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	ctx := context.Background()
	c := cfg.SNS()
	topic, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(testenv.UniqueName("okra-notify"))})
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	// Subscribe a queue so the publish is observable, not just accepted.
	url, queueARN := newQueue(t, cfg.SQS())
	if _, err := c.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn:   topic.TopicArn,
		Protocol:   aws.String("sqs"),
		Endpoint:   aws.String(queueARN),
		Attributes: map[string]string{"RawMessageDelivery": "true"},
	}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	pub, err := c.Publish(ctx, &sns.PublishInput{
		TopicArn: topic.TopicArn,
		Subject:  aws.String("okra rollout web"),
		Message:  aws.String("rollout web v2 rolled back: analysis failed"),
	})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if aws.ToString(pub.MessageId) == "" {
		t.Fatal("Publish returned no message id")
	}
	m := receiveOne(t, cfg.SQS(), url)
	if got := aws.ToString(m.Body); got != "rollout web v2 rolled back: analysis failed" {
		t.Fatalf("subscribed queue got %q", got)
	}
}

func TestEventBridgePatternToSQSTarget(t *testing.T) {
	// moto cannot deliver events to Lambda or Step Functions targets, so
	// rule patterns are tested through an SQS target.
	cfg, _ := testenv.AWS(t)
	ctx := context.Background()
	c := cfg.EventBridge()
	url, queueARN := newQueue(t, cfg.SQS())
	rule := testenv.UniqueName("okra-eks")
	pattern := `{"source":["aws.eks"],"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventName":["CreateCluster","TagResource","UntagResource","DeleteCluster"]}}`
	if _, err := c.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatalf("PutRule: %v", err)
	}
	if _, err := c.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule:    aws.String(rule),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(queueARN)}},
	}); err != nil {
		t.Fatalf("PutTargets: %v", err)
	}
	entry := func(eventName, cluster string) ebtypes.PutEventsRequestEntry {
		detail, _ := json.Marshal(map[string]any{"eventName": eventName, "requestParameters": map[string]string{"name": cluster}})
		return ebtypes.PutEventsRequestEntry{
			Source:     aws.String("aws.eks"),
			DetailType: aws.String("AWS API Call via CloudTrail"),
			Detail:     aws.String(string(detail)),
		}
	}
	out, err := c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		entry("DescribeCluster", "ignored"), // does not match the pattern
		entry("CreateCluster", "web-1-v2"),
	}})
	if err != nil {
		t.Fatalf("PutEvents: %v", err)
	}
	if out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %d failed entries", out.FailedEntryCount)
	}
	m := receiveOne(t, cfg.SQS(), url)
	var ev struct {
		Source string `json:"source"`
		Detail struct {
			EventName string `json:"eventName"`
		} `json:"detail"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
		t.Fatalf("event body %q: %v", aws.ToString(m.Body), err)
	}
	if ev.Source != "aws.eks" || ev.Detail.EventName != "CreateCluster" {
		t.Fatalf("delivered event = %+v, want the CreateCluster event", ev)
	}
	if _, err := cfg.SQS().DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	more, err := cfg.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	if len(more.Messages) != 0 {
		t.Fatalf("the non-matching event was delivered too: %s", aws.ToString(more.Messages[0].Body))
	}
}

func TestAutoScalingDescribe(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	ctx := context.Background()
	c := cfg.AutoScaling()
	network := testenv.NewNetwork(t, cfg.EC2())
	lt := testenv.UniqueName("okra-lt")
	if _, err := cfg.EC2().CreateLaunchTemplate(ctx, ec2CreateLaunchTemplate(lt)); err != nil {
		t.Fatalf("CreateLaunchTemplate: %v", err)
	}
	name := testenv.UniqueName("okra-nodes")
	if _, err := c.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		MinSize:              aws.Int32(0),
		MaxSize:              aws.Int32(2),
		DesiredCapacity:      aws.Int32(0),
		VPCZoneIdentifier:    aws.String(network.SubnetIDs[0] + "," + network.SubnetIDs[1]),
		LaunchTemplate:       asgLaunchTemplate(lt),
	}); err != nil {
		t.Fatalf("CreateAutoScalingGroup: %v", err)
	}
	out, err := c.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		t.Fatalf("DescribeAutoScalingGroups: %v", err)
	}
	if len(out.AutoScalingGroups) != 1 || aws.ToInt32(out.AutoScalingGroups[0].MaxSize) != 2 {
		t.Fatalf("DescribeAutoScalingGroups = %+v", out.AutoScalingGroups)
	}
}

func ec2CreateLaunchTemplate(name string) *ec2.CreateLaunchTemplateInput {
	return &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
			ImageId:      aws.String("ami-12c6146b"),
			InstanceType: ec2types.InstanceTypeT3Micro,
		},
	}
}

func asgLaunchTemplate(name string) *asgtypes.LaunchTemplateSpecification {
	return &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String(name), Version: aws.String("$Latest")}
}
