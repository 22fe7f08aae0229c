//! The local AWS emulator (moto behind tests/emulator/'s protocol layer), started once per test
//! binary on a free loopback port. Tests take it one at a time: `Emulator::acquire()` waits for the
//! previous test to finish, then resets every resource and the recorded calls.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

const START_TIMEOUT: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

struct Server {
    url: String,
    addr: String,
    // Kept so the child's stdin stays open: the emulator exits when this process does.
    _child: Child,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static TURN: Mutex<()> = Mutex::const_new(());

/// A reset emulator, held by one test at a time.
pub struct Emulator {
    pub url: String,
    addr: String,
    /// A state file of this test's own for the `dialtone` binary (`DIALTONE_STATE`).
    pub state: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

/// The Python that has the emulator's requirements: $DIALTONE_PYTHON, else the project's .venv.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("DIALTONE_PYTHON") {
        return PathBuf::from(python);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

fn start() -> Result<Server, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = python();
    if !python.exists() {
        return Err(format!(
            "{} not found: run `scripts/test` once (it creates .venv with tests/requirements.txt) or set DIALTONE_PYTHON",
            python.display()
        ));
    }
    let mut child = Command::new(&python)
        .arg(root.join("tests/emulator/server.py"))
        .args(["--port", "0", "--exit-with-parent"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("starting {}: {err}", python.display()))?;
    let stdout = child.stdout.take().ok_or("emulator has no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        let _ = tx.send(first);
        // Keep draining so the emulator never blocks on a full pipe.
        for _ in lines {}
    });
    let line = match rx.recv_timeout(START_TIMEOUT) {
        Ok(Some(Ok(line))) => line,
        other => {
            let _ = child.kill();
            return Err(format!(
                "emulator did not report READY within {START_TIMEOUT:?}: {other:?}"
            ));
        }
    };
    let url = line
        .strip_prefix("READY ")
        .ok_or_else(|| format!("unexpected emulator output: {line}"))?
        .to_string();
    let addr = url.trim_start_matches("http://").to_string();
    Ok(Server {
        url,
        addr,
        _child: child,
    })
}

impl Emulator {
    /// Waits for this test's turn, then resets the emulator.
    pub async fn acquire() -> Emulator {
        let turn = TURN.lock().await;
        let server = match SERVER.get_or_init(start) {
            Ok(server) => server,
            Err(err) => panic!("AWS emulator unavailable: {err}"),
        };
        static TESTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = TESTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let state = std::env::temp_dir().join(format!(
            "dialtone-test-state-{}-{n}.json",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&state);
        let emulator = Emulator {
            url: server.url.clone(),
            addr: server.addr.clone(),
            state,
            _turn: turn,
        };
        emulator.request("POST", "/moto-api/reset", "");
        emulator
    }

    /// The operations the emulator served since the reset (or the last `forget_calls`), as
    /// `service:Operation`; throttled attempts are not included.
    pub fn calls(&self) -> Vec<String> {
        self.recorded_calls(|c| c["outcome"] == "served")
    }

    /// The operations dialtone itself (user agent `app/dialtone`) made, as `service:Operation`.
    pub fn dialtone_calls(&self) -> Vec<String> {
        self.recorded_calls(|c| c["client"] == "dialtone")
    }

    fn recorded_calls(&self, keep: impl Fn(&serde_json::Value) -> bool) -> Vec<String> {
        self.recorded()
            .iter()
            .filter(|c| keep(c))
            .map(|c| {
                format!(
                    "{}:{}",
                    c["service"].as_str().unwrap_or("?"),
                    c["operation"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    /// How many requests the emulator answered with injected throttling.
    pub fn throttled(&self) -> usize {
        self.recorded()
            .iter()
            .filter(|c| c["outcome"] == "throttled")
            .count()
    }

    /// The regions in which `operation` (e.g. `connect:UpdateTrafficDistribution`) was served.
    pub fn regions_of(&self, operation: &str) -> Vec<String> {
        self.recorded()
            .iter()
            .filter(|c| c["outcome"] == "served")
            .filter(|c| {
                format!(
                    "{}:{}",
                    c["service"].as_str().unwrap_or("?"),
                    c["operation"].as_str().unwrap_or("?")
                ) == operation
            })
            .map(|c| c["region"].as_str().unwrap_or("?").to_string())
            .collect()
    }

    /// Calls of `operation` (e.g. `cloudwatch:PutMetricAlarm`) served so far.
    pub fn count(&self, operation: &str) -> usize {
        self.calls().iter().filter(|c| *c == operation).count()
    }

    /// Served calls that change anything (everything but Describe/Get/List).
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| {
                let op = c.split(':').nth(1).unwrap_or_default();
                !(op.starts_with("Describe") || op.starts_with("Get") || op.starts_with("List"))
            })
            .collect()
    }

    fn recorded(&self) -> Vec<serde_json::Value> {
        let body = self.request("GET", "/_emulator/calls", "");
        serde_json::from_str(&body).expect("emulator returns a JSON list of calls")
    }

    /// Answers every `every`th `service:operation` call with a throttling error, `count` times.
    pub fn inject_throttling(&self, service: &str, operation: &str, every: u32, count: u32) {
        let body = serde_json::json!({
            "service": service, "operation": operation, "every": every, "count": count
        });
        self.request("POST", "/_emulator/faults", &body.to_string());
    }

    /// The tags of alarm `name` in `region`.
    pub async fn alarm_tags(
        &self,
        region: &str,
        name: &str,
    ) -> std::collections::BTreeMap<String, String> {
        self.cloudwatch(region)
            .list_tags_for_resource()
            .resource_arn(format!(
                "arn:aws:cloudwatch:{region}:123456789012:alarm:{name}"
            ))
            .send()
            .await
            .expect("ListTagsForResource")
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Throttles `share` of every AWS request (any service, any operation) at random, drawn from
    /// `seed`, `count` times in all.
    pub fn throttle_share(&self, share: f64, seed: u64, count: u32) {
        let body = serde_json::json!({
            "service": "*", "operation": "*", "share": share, "seed": seed, "count": count
        });
        self.request("POST", "/_emulator/faults", &body.to_string());
    }

    /// A plain HTTP/1.1 request to the emulator's control endpoints (loopback only).
    fn request(&self, method: &str, path: &str, body: &str) -> String {
        let mut stream = TcpStream::connect(&self.addr).expect("connect to emulator");
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("set timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("write to emulator");
        let mut reply = String::new();
        stream
            .read_to_string(&mut reply)
            .expect("read from emulator");
        let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "{method} {path}: {head}"
        );
        body.to_string()
    }

    /// A CloudWatch client of the current SDK, pointed at the emulator.
    pub fn cloudwatch(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new(
                "testing", "testing", None, None, "emulator",
            ))
            .build();
        aws_sdk_cloudwatch::Client::from_conf(config)
    }
}

impl Emulator {
    /// The standard AWS configuration, pointed at the emulator.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_sdk_cloudwatch::config::{Credentials, Region};
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "testing", "testing", None, None, "emulator",
            ))
            .load()
            .await
    }

    /// dialtone's AWS clients against the emulator, without client-side rate limits.
    pub async fn clients(&self) -> std::sync::Arc<dialtone::aws::AwsClients> {
        let rates = dialtone::aws::RateLimits::default()
            .with_overrides(["all=0"])
            .expect("valid rates");
        std::sync::Arc::new(dialtone::aws::AwsClients::new(
            self.sdk_config().await,
            rates,
        ))
    }

    /// Environment for running the `dialtone` binary against the emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("DIALTONE_STATE", self.state.display().to_string()),
        ]
    }

    /// The metric alarm `name` in `region`, as CloudWatch describes it.
    pub async fn alarm(&self, region: &str, name: &str) -> aws_sdk_cloudwatch::types::MetricAlarm {
        self.cloudwatch(region)
            .describe_alarms()
            .alarm_names(name)
            .send()
            .await
            .expect("DescribeAlarms")
            .metric_alarms()
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("alarm {name} exists in {region}"))
    }

    /// Names of the metric alarms in `region`.
    pub async fn alarm_names(&self, region: &str) -> Vec<String> {
        self.cloudwatch(region)
            .describe_alarms()
            .send()
            .await
            .expect("DescribeAlarms")
            .metric_alarms()
            .iter()
            .filter_map(|a| a.alarm_name().map(str::to_string))
            .collect()
    }

    /// Deletes alarm `name` in `region` as someone would by hand.
    pub async fn delete_alarm(&self, region: &str, name: &str) {
        self.cloudwatch(region)
            .delete_alarms()
            .alarm_names(name)
            .send()
            .await
            .expect("DeleteAlarms by hand");
    }

    /// An Amazon Connect client of the current SDK, pointed at the emulator.
    pub fn connect(&self, region: &str) -> aws_sdk_connect::Client {
        use aws_sdk_connect::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_connect::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new(
                "testing", "testing", None, None, "emulator",
            ))
            .build();
        aws_sdk_connect::Client::from_conf(config)
    }

    /// An Amazon Connect instance in us-east-1 replicated to us-west-2 (Global Resiliency), as an
    /// administrator sets it up: (instance id, ARN of its default traffic distribution group).
    pub async fn replicated_instance(&self) -> (String, String) {
        let east = self.connect("us-east-1");
        let created = east
            .create_instance()
            .identity_management_type(aws_sdk_connect::types::DirectoryType::ConnectManaged)
            .instance_alias("contact-center")
            .inbound_calls_enabled(true)
            .outbound_calls_enabled(true)
            .send()
            .await
            .expect("CreateInstance");
        let id = created.id().expect("instance id").to_string();
        east.replicate_instance()
            .instance_id(&id)
            .replica_region("us-west-2")
            .replica_alias("contact-center-west")
            .send()
            .await
            .expect("ReplicateInstance");
        let groups = east
            .list_traffic_distribution_groups()
            .instance_id(&id)
            .send()
            .await
            .expect("ListTrafficDistributionGroups");
        let arn = groups
            .traffic_distribution_group_summary_list()
            .iter()
            .find(|g| g.is_default())
            .and_then(|g| g.arn())
            .expect("a default traffic distribution group")
            .to_string();
        (id, arn)
    }

    /// Sets the replication status of `replica_region` as DescribeInstance shows it in `region`.
    pub fn set_replication(
        &self,
        region: &str,
        instance_id: &str,
        replica_region: &str,
        status: &str,
    ) {
        let body = serde_json::json!({
            "region": region, "instanceId": instance_id, "replicaRegion": replica_region,
            "status": status, "reason": "set by the test",
        });
        self.request("POST", "/_emulator/connect/replication", &body.to_string());
    }

    /// Sets a traffic distribution group's status.
    pub fn set_group_status(&self, arn: &str, status: &str) {
        let body = serde_json::json!({"arn": arn, "status": status});
        self.request("POST", "/_emulator/connect/group", &body.to_string());
    }

    /// How long a traffic distribution group stays UPDATE_IN_PROGRESS after an update.
    pub fn set_update_seconds(&self, seconds: u64) {
        let body = serde_json::json!({"updateSeconds": seconds});
        self.request("POST", "/_emulator/connect/settings", &body.to_string());
    }

    /// Every request of `service` (or of every service, with None) in `region` fails with a 5xx in
    /// its protocol's own error format, until `end_outages`.
    pub fn outage(&self, region: &str, service: Option<&str>) {
        let body = match service {
            Some(service) => serde_json::json!({"region": region, "service": service}),
            None => serde_json::json!({"region": region}),
        };
        self.request("POST", "/_emulator/outage", &body.to_string());
    }

    /// Ends every outage.
    pub fn end_outages(&self) {
        self.request("DELETE", "/_emulator/outage", "");
    }

    /// Forgets the recorded calls and injected faults; resources stay.
    pub fn forget_calls(&self) {
        self.request("DELETE", "/_emulator/calls", "");
    }

    /// A Route 53 client of the current SDK, pointed at the emulator.
    pub fn route53(&self) -> aws_sdk_route53::Client {
        use aws_sdk_route53::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_route53::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "testing", "testing", None, None, "emulator",
            ))
            .build();
        aws_sdk_route53::Client::from_conf(config)
    }

    /// A public hosted zone, as an administrator creates it: its id (`Z...`).
    pub async fn hosted_zone(&self, name: &str) -> String {
        let created = self
            .route53()
            .create_hosted_zone()
            .name(name)
            .caller_reference(format!("test-{name}-{}", std::process::id()))
            .send()
            .await
            .expect("CreateHostedZone");
        let id = created.hosted_zone().expect("hosted zone").id();
        id.trim_start_matches("/hostedzone/").to_string()
    }

    /// The record sets of a zone that carry a set identifier (failover records), as
    /// `name type failover set-identifier value [health check id]` lines, sorted.
    pub async fn failover_records(&self, zone: &str) -> Vec<String> {
        let listed = self
            .route53()
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .send()
            .await
            .expect("ListResourceRecordSets");
        let mut lines: Vec<String> = listed
            .resource_record_sets()
            .iter()
            .filter(|r| r.set_identifier().is_some())
            .map(|r| {
                format!(
                    "{} {} {} {} {}{}",
                    r.name(),
                    r.r#type().as_str(),
                    r.failover().map(|f| f.as_str()).unwrap_or("-"),
                    r.set_identifier().unwrap_or("-"),
                    r.resource_records()
                        .iter()
                        .map(|v| v.value())
                        .collect::<Vec<_>>()
                        .join(","),
                    r.health_check_id()
                        .map(|h| format!(" {h}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        lines.sort();
        lines
    }

    /// Every health check in the account.
    pub async fn health_checks(&self) -> Vec<aws_sdk_route53::types::HealthCheck> {
        self.route53()
            .list_health_checks()
            .send()
            .await
            .expect("ListHealthChecks")
            .health_checks()
            .to_vec()
    }

    /// Whether Route 53's health checkers see a check as healthy (every checker says Success).
    pub async fn healthy(&self, id: &str) -> bool {
        self.route53()
            .get_health_check_status()
            .health_check_id(id)
            .send()
            .await
            .expect("GetHealthCheckStatus")
            .health_check_observations()
            .iter()
            .all(|o| {
                o.status_report()
                    .and_then(|r| r.status())
                    .is_some_and(|s| s.starts_with("Success"))
            })
    }

    /// How long a Route 53 change stays PENDING before GetChange says INSYNC.
    pub fn set_change_seconds(&self, seconds: u64) {
        let body = serde_json::json!({"changeSeconds": seconds});
        self.request("POST", "/_emulator/route53/settings", &body.to_string());
    }
}
