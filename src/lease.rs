//! Leader election on a coordination.k8s.io/v1 Lease: only the holder reconciles. The lease is
//! taken when free or expired, renewed well before it expires, and released on shutdown so a
//! standby takes over at once. Writes use the Lease's resourceVersion, so two candidates can never
//! both win.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ObjectMeta, PostParams};

/// How long a lease holds without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews (and a candidate retries).
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

/// A candidate for the lease `name`.
pub struct LeaderLease {
    api: Api<Lease>,
    name: String,
    identity: String,
}

/// What a try to take or keep the lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leadership {
    Leader,
    Follower,
}

impl LeaderLease {
    pub fn new(api: Api<Lease>, name: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            api,
            name: name.into(),
            identity: identity.into(),
        }
    }

    /// Takes or renews the lease if it is free, expired or ours. A conflict (someone else wrote
    /// first) is not an error: it means we are a follower this round.
    pub async fn try_acquire(&self, now: Timestamp) -> Result<Leadership, kube::Error> {
        let existing = self.api.get_opt(&self.name).await?;
        let Some(mut lease) = existing else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Leadership::Leader),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(Leadership::Follower),
                Err(err) => Err(err),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref();
        let ours = holder == Some(self.identity.as_str());
        let expired = holder.is_none() || is_expired(&spec, now);
        if !ours && !expired {
            return Ok(Leadership::Follower);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
        let acquired = if ours {
            spec.acquire_time.clone()
        } else {
            None
        };
        lease.spec = Some(self.spec(now, acquired, transitions));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(Leadership::Leader),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Leadership::Follower),
            Err(err) => Err(err),
        }
    }

    /// Gives the lease up (on graceful shutdown) so another instance can take it immediately.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        lease.spec = Some(spec);
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map(|_| ())
    }

    fn spec(&self, now: Timestamp, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time: acquired.or(Some(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}

fn is_expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renewed) = spec.renew_time.as_ref() else {
        return true;
    };
    let duration = SignedDuration::from_secs(i64::from(
        spec.lease_duration_seconds
            .unwrap_or(LEASE_DURATION.as_secs() as i32),
    ));
    renewed
        .0
        .checked_add(duration)
        .map(|end| end <= now)
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(Timestamp::from_second(renewed).expect("ts"))),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_lease_expires_after_its_duration() {
        let at = |s| Timestamp::from_second(s).expect("ts");
        assert!(!is_expired(&spec(Some("a"), 100), at(114)));
        assert!(is_expired(&spec(Some("a"), 100), at(115)));
        assert!(is_expired(&LeaseSpec::default(), at(0)), "never renewed");
    }
}
