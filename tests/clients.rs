//! kube (rustls with aws-lc-rs) and the AWS SDK (aws-lc) live in one process without rustls
//! panicking over which CryptoProvider to use. Both clients make a real TLS attempt against a
//! closed loopback port: the request must fail as an error, never as a panic.

use std::time::Duration;

#[tokio::test]
async fn kube_and_aws_clients_start_in_one_process() {
    let mut config = kube::Config::new("https://127.0.0.1:1".parse().expect("uri"));
    config.connect_timeout = Some(Duration::from_secs(5));
    let kube_client = kube::Client::try_from(config).expect("kube client builds");
    let kube_result = kube_client.apiserver_version().await;
    assert!(kube_result.is_err(), "nothing listens on 127.0.0.1:1");

    use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let aws_config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url("https://127.0.0.1:1")
        .region(Region::new("us-east-1"))
        .retry_config(RetryConfig::disabled())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(aws_config);
    let aws_result = cloudwatch.describe_alarms().send().await;
    assert!(aws_result.is_err(), "nothing listens on 127.0.0.1:1");
}
