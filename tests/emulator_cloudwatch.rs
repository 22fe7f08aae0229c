//! The emulator speaks the current aws-sdk-cloudwatch's rpcv2-cbor protocol for alarm operations.

mod support;

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StateValue, Statistic, Tag};
use support::emulator::Emulator;

async fn put_queue_wait(client: &aws_sdk_cloudwatch::Client, name: &str, threshold: f64) {
    client
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/Connect")
        .metric_name("LongestQueueWaitTime")
        .dimensions(
            Dimension::builder()
                .name("InstanceId")
                .value("7c0e9b14")
                .build(),
        )
        .dimensions(
            Dimension::builder()
                .name("MetricGroup")
                .value("Queue")
                .build(),
        )
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(3)
        .datapoints_to_alarm(2)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .alarm_actions("arn:aws:sns:us-east-1:123456789012:oncall")
        .tags(
            Tag::builder()
                .key("dialtone.io/owner")
                .value("cc/queues")
                .build(),
        )
        .send()
        .await
        .expect("PutMetricAlarm through rpcv2-cbor");
}

#[tokio::test]
async fn put_describe_and_tag_through_the_current_sdk() {
    let emulator = Emulator::acquire().await;
    let client = emulator.cloudwatch("us-east-1");

    put_queue_wait(&client, "cc/queues/queue-wait", 120.0).await;
    let described = client
        .describe_alarms()
        .alarm_names("cc/queues/queue-wait")
        .send()
        .await
        .expect("DescribeAlarms through rpcv2-cbor");
    let alarm = &described.metric_alarms()[0];
    assert_eq!(alarm.threshold(), Some(120.0));
    assert_eq!(alarm.evaluation_periods(), Some(3));
    assert_eq!(alarm.datapoints_to_alarm(), Some(2));
    assert_eq!(alarm.statistic(), Some(&Statistic::Maximum));
    assert_eq!(
        alarm.alarm_actions(),
        ["arn:aws:sns:us-east-1:123456789012:oncall"]
    );
    assert_eq!(alarm.dimensions().len(), 2);
    assert!(
        alarm.alarm_configuration_updated_timestamp().is_some(),
        "timestamps decode"
    );
    let arn = alarm.alarm_arn().expect("alarm has an ARN").to_string();

    client
        .tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("team").value("contact-center").build())
        .send()
        .await
        .expect("TagResource through rpcv2-cbor");
    let tags = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("ListTagsForResource");
    let mut pairs: Vec<(Option<&str>, Option<&str>)> =
        tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            (Some("dialtone.io/owner"), Some("cc/queues")),
            (Some("team"), Some("contact-center"))
        ]
    );

    assert_eq!(
        emulator.calls(),
        [
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:TagResource",
            "cloudwatch:ListTagsForResource"
        ]
    );
}

#[tokio::test]
async fn update_state_and_delete_round_trip() {
    let emulator = Emulator::acquire().await;
    let client = emulator.cloudwatch("us-east-1");
    put_queue_wait(&client, "a", 120.0).await;
    put_queue_wait(&client, "a", 300.0).await;
    client
        .set_alarm_state()
        .alarm_name("a")
        .state_value(StateValue::Alarm)
        .state_reason("drill")
        .send()
        .await
        .expect("SetAlarmState");
    let alarms = client
        .describe_alarms()
        .send()
        .await
        .expect("DescribeAlarms");
    let alarm = &alarms.metric_alarms()[0];
    assert_eq!(alarm.threshold(), Some(300.0), "PutMetricAlarm overwrites");
    assert_eq!(alarm.state_value(), Some(&StateValue::Alarm));
    assert_eq!(alarm.state_reason(), Some("drill"));

    client
        .delete_alarms()
        .alarm_names("a")
        .send()
        .await
        .expect("DeleteAlarms");
    let alarms = client
        .describe_alarms()
        .send()
        .await
        .expect("DescribeAlarms");
    assert!(alarms.metric_alarms().is_empty());
}

#[tokio::test]
async fn aws_errors_reach_the_sdk_with_their_code() {
    let emulator = Emulator::acquire().await;
    let client = emulator.cloudwatch("us-east-1");
    let err = client
        .tag_resource()
        .resource_arn("arn:aws:cloudwatch:us-east-1:123456789012:alarm:missing")
        .tags(Tag::builder().key("k").value("v").build())
        .send()
        .await
        .expect_err("tagging a missing alarm fails");
    let service_error = err.into_service_error();
    assert!(
        service_error.is_resource_not_found_exception(),
        "{service_error:?}"
    );
    assert_eq!(service_error.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn regions_are_separate() {
    let emulator = Emulator::acquire().await;
    put_queue_wait(&emulator.cloudwatch("us-east-1"), "east", 1.0).await;
    let west = emulator
        .cloudwatch("us-west-2")
        .describe_alarms()
        .send()
        .await
        .expect("DescribeAlarms in us-west-2");
    assert!(west.metric_alarms().is_empty());
}
