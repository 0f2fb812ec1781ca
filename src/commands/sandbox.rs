//! `orgsync sandbox`: serve the simulated API until Ctrl-C or SIGTERM.

use crate::cli::{EnvelopeArg, ExportFailArg, SandboxArgs};
use crate::exit::Exit;
use crate::sandbox::{Envelope, ExportFailure, ExportKnobs, Faults, Sandbox, SandboxConfig};

pub fn config(args: &SandboxArgs) -> Result<SandboxConfig, String> {
    if !(0.0..=1.0).contains(&args.fail_rate) {
        return Err(format!("--fail-rate {} is outside 0..=1", args.fail_rate));
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err(format!(
            "--rate {rate} must be a positive number of requests per second"
        ));
    }
    let e = &args.export;
    if !(e.export_secs.is_finite() && (0.0..=86_400.0).contains(&e.export_secs)) {
        return Err(format!("--export-secs {} must be between 0 and 86400", e.export_secs));
    }
    if e.export_link_ttl_secs == 0 || e.export_link_ttl_secs > 7 * 86_400 {
        return Err("--export-link-ttl-secs must be between 1 and 604800".into());
    }
    if args.token_ttl_secs == 0 {
        return Err("--token-ttl-secs must be at least 1".into());
    }
    Ok(SandboxConfig {
        records: args.records,
        seed: args.seed,
        rate: args.rate,
        fail_rate: args.fail_rate,
        fail_after: args.fail_after,
        latency: std::time::Duration::from_millis(args.latency_ms),
        token_ttl: std::time::Duration::from_secs(args.token_ttl_secs),
        envelope: match args.envelope {
            EnvelopeArg::Bare => Envelope::Bare,
            EnvelopeArg::Result => Envelope::Result,
            EnvelopeArg::Results => Envelope::Results,
        },
        faults: Faults {
            throttle_every: args.throttle_every,
            retry_after: args.retry_after.clone(),
            expires_in_json: args.expires_in_json.clone(),
            short_page_at: args.short_page_at,
            html_first: args.html_first,
            html_at_offset: args.html_at_offset,
            non_object_at: args.non_object_record_at,
        },
        no_catalog: args.no_catalog,
        max_offset: args.max_offset,
        export: ExportKnobs {
            duration: std::time::Duration::from_secs_f64(e.export_secs),
            fail: e.export_fail.map(|f| match f {
                ExportFailArg::Failure => ExportFailure::Failure,
                ExportFailArg::Stopped => ExportFailure::Stopped,
                ExportFailArg::PartialFailureComplete => ExportFailure::PartialFailureComplete,
                ExportFailArg::PartialFailureIncomplete => ExportFailure::PartialFailureIncomplete,
            }),
            gzip: e.export_gzip,
            absolute_link: e.export_absolute_link,
            link_ttl: std::time::Duration::from_secs(e.export_link_ttl_secs),
            expired_links: e.export_expired_links,
            download_bytes_per_sec: e.export_download_bytes_per_sec,
            no_range: e.export_no_range,
            cut_first_download_after: e.export_cut_after_bytes,
            bad_line: e.export_bad_line,
        },
    })
}

pub async fn serve(args: SandboxArgs) -> Exit {
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("orgsync: {e}");
            return Exit::Invalid;
        }
    };
    let sandbox = match Sandbox::start(config, args.port).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "orgsync: cannot listen on 127.0.0.1:{}: {e}: pick another --port (0 = any free port)",
                args.port
            );
            return Exit::Failed;
        }
    };
    println!("orgsync sandbox listening on {}", sandbox.base_url());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    super::shutdown_signal().await;
    sandbox.shutdown().await;
    Exit::Ok
}
