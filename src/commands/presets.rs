//! `dialtone presets`: the alert catalog, and the alarm one preset expands to.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::json;

use super::{Output, emit, exit};
use crate::api::alarm_policy::AlarmEntry;
use crate::plan::presets::{CATALOG, Preset, expand, find};
use crate::{Error, Result};

/// The alarm `preset` expands to, with each param standing for itself (`<queueName>`).
fn example(preset: &Preset) -> Result<serde_json::Value> {
    let params: BTreeMap<String, String> = preset
        .params
        .iter()
        .map(|p| (p.name.to_string(), format!("<{}>", p.name)))
        .collect();
    let entry = AlarmEntry {
        name: None,
        severity: None,
        description: None,
        alarm_name: None,
        metric: None,
        expression: None,
        preset: Some(preset.name.into()),
        params,
        threshold: preset.required_threshold.map(|_| 1000.0),
        anomaly_band: None,
        comparison_operator: None,
        evaluation_periods: None,
        datapoints_to_alarm: None,
        treat_missing_data: None,
    };
    let alarm = expand(&entry, "preset").map_err(|errors| Error::Serialize {
        what: preset.name.into(),
        message: format!("{errors:?}"),
    })?;
    let mut alarm = serde_json::to_value(alarm).map_err(|err| Error::Serialize {
        what: preset.name.into(),
        message: err.to_string(),
    })?;
    // The name it derives, with the params standing for themselves.
    let name: Vec<String> = std::iter::once(preset.name.to_string())
        .chain(
            preset
                .params
                .iter()
                .filter(|p| p.name != "instanceId")
                .map(|p| format!("<{}>", p.name)),
        )
        .collect();
    alarm["name"] = json!(name.join("-"));
    Ok(alarm)
}

fn threshold(preset: &Preset) -> String {
    match (preset.threshold, preset.required_threshold) {
        (Some(t), _) => format!("{t}"),
        (None, Some(_)) => "(yours)".into(),
        (None, None) => "band".into(),
    }
}

fn describe(preset: &Preset) -> Result<serde_json::Value> {
    Ok(json!({
        "name": preset.name,
        "watches": preset.watches,
        "doc": preset.doc,
        "severity": preset.severity,
        "threshold": preset.threshold,
        "thresholdRequired": preset.required_threshold,
        "params": preset.params.iter().map(|p| json!({"name": p.name, "doc": p.doc})).collect::<Vec<_>>(),
        "alarm": example(preset)?,
    }))
}

/// `dialtone presets [NAME] [-o json]`.
pub fn presets(name: Option<&str>, output: Output) -> Result<u8> {
    let chosen: Vec<&Preset> = match name {
        Some(name) => match find(name) {
            Some(preset) => vec![preset],
            None => {
                eprintln!(
                    "error: no preset {name:?}; the presets are: {}",
                    CATALOG
                        .iter()
                        .map(|p| p.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return Ok(exit::ERROR);
            }
        },
        None => CATALOG.iter().collect(),
    };
    if output == Output::Json {
        let described = chosen
            .into_iter()
            .map(describe)
            .collect::<Result<Vec<_>>>()?;
        let document = match (name, described.as_slice()) {
            (Some(_), [one]) => one.clone(),
            _ => json!({ "presets": described }),
        };
        emit(&format!("{document:#}\n"));
        return Ok(exit::OK);
    }
    let mut out = String::new();
    match chosen.as_slice() {
        [preset] if name.is_some() => {
            let _ = writeln!(
                out,
                "{}: {}\n\n{}\n",
                preset.name, preset.watches, preset.doc
            );
            let _ = writeln!(out, "Params:");
            for param in preset.params {
                let _ = writeln!(out, "  {}: {}", param.name, param.doc);
            }
            if let Some(what) = preset.required_threshold {
                let _ = writeln!(out, "  (and threshold: {what})");
            }
            let yaml =
                serde_saphyr::to_string(&example(preset)?).map_err(|err| Error::Serialize {
                    what: preset.name.into(),
                    message: err.to_string(),
                })?;
            let _ = writeln!(
                out,
                "\nAn entry `- {{preset: {}, params: {{...}}}}` expands to (every field can be overridden):\n\n{yaml}",
                preset.name
            );
        }
        presets => {
            let _ = writeln!(
                out,
                "{:<32} {:<9} {:<10} {:<36} WATCHES",
                "PRESET", "SEVERITY", "THRESHOLD", "PARAMS"
            );
            for preset in presets {
                let params: Vec<&str> = preset.params.iter().map(|p| p.name).collect();
                let _ = writeln!(
                    out,
                    "{:<32} {:<9} {:<10} {:<36} {}",
                    preset.name,
                    format!("{:?}", preset.severity).to_lowercase(),
                    threshold(preset),
                    params.join(", "),
                    preset.watches
                );
            }
            let _ = writeln!(
                out,
                "\n`dialtone presets NAME` shows one preset's docs and the alarm it expands to."
            );
        }
    }
    emit(&out);
    Ok(exit::OK)
}
