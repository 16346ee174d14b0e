//! `oxnas report ranking`: rank dirs from real `oxnas rank` runs on hand-made score CSVs, the
//! table checked against their rank.json, and the HTML page checked in a real headless browser.
//!
//! The browser tests use Debian's chromium (/usr/bin/chromium, or $OXNAS_CHROMIUM). Where it is
//! missing they are skipped with a message; `.ci/run` installs it (scripts/chromium-up.sh) and sets
//! OXNAS_REQUIRE_CHROMIUM=1, which makes them fail instead.

mod common;
use common::*;

use oxnas_core::bench::{Column, Nb201Table};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A scores CSV of `count` NB201 cells spread over the table, scored by `score(arch, truth)`.
fn write_scores(path: &Path, count: usize, score: impl Fn(&oxnas_core::nb201::Nb201Arch, f64, usize) -> f64) {
    let table = Nb201Table::embedded();
    let step = table.rows().len() / count;
    let mut csv = String::from("index,arch_str,score,loss\n");
    for (i, r) in table.rows().step_by(step).take(count).enumerate() {
        let arch = r.arch();
        let s = score(&arch, r.value(Column::Cifar10Test200ep), i);
        csv.push_str(&format!("{},{arch},{s},\n", r.index()));
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, csv).unwrap();
}

/// A supernet.jsonl as `oxnas supernet train` writes it: three epochs, τ tracked on the first and third.
const SUPERNET_LOG: &str = concat!(
    r#"{"epoch":0,"lr":0.05,"train_loss":2.1,"train_acc":21.0,"tau":0.125,"rho":0.2,"tracked_mean_acc":20.0,"epoch_time_s":1.0,"images_per_s":50.0}"#,
    "\n",
    r#"{"epoch":1,"lr":0.04,"train_loss":1.9,"train_acc":30.0,"tau":null,"rho":null,"tracked_mean_acc":null,"epoch_time_s":1.0,"images_per_s":50.0}"#,
    "\n",
    r#"{"epoch":2,"lr":0.01,"train_loss":1.7,"train_acc":35.0,"tau":0.375,"rho":0.5,"tracked_mean_acc":30.0,"epoch_time_s":1.0,"images_per_s":50.0}"#,
    "\n"
);

struct Runs {
    root: PathBuf,
    /// (rank output dir, its rank.json)
    supernet: (PathBuf, Value),
    biased: (PathBuf, Value),
}

/// Two ranking runs below `root`: `sn/` a supernet run (its log beside the scores: 60 cells, noisy
/// scores) and `search/` scores without a supernet log (200 cells, truth plus 4 points per
/// parameter-free op: a planted bias).
fn two_runs(root: &Path) -> Runs {
    let sn = root.join("sn/scores-classes-train.csv");
    write_scores(&sn, 60, |_, truth, i| truth + 3.0 * ((i * 37 % 11) as f64 - 5.0));
    std::fs::write(root.join("sn/supernet.jsonl"), SUPERNET_LOG).unwrap();
    let other = root.join("search/scores.csv");
    write_scores(&other, 200, |arch, truth, _| truth + 4.0 * arch.num_param_free() as f64);
    let rank = |scores: &Path| -> (PathBuf, Value) {
        let json = json(&["rank", "--scores", scores.to_str().unwrap(), "--truth", "cifar10_test_200ep", "--json"]);
        let dir = PathBuf::from(format!("{}.rank", scores.display()));
        let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("rank.json")).unwrap()).unwrap();
        assert_eq!(json, on_disk);
        (dir, on_disk)
    };
    Runs { root: root.to_path_buf(), supernet: rank(&sn), biased: rank(&other) }
}

fn percent(list: &Value, p: f64) -> &Value {
    list.as_array().unwrap().iter().find(|v| v["percent"].as_f64() == Some(p)).unwrap()
}

#[test]
fn rank_json_gains_a_summary_consistent_with_its_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = two_runs(tmp.path());
    for (_, j) in [&runs.supernet, &runs.biased] {
        // The fields rank.json had are still there, with the summary added.
        let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["bias", "join", "rank", "scores", "summary", "truth"]);
        let (s, r) = (&j["summary"], &j["rank"]);
        assert_eq!(s["space"], "nb201");
        assert_eq!(s["truth"], "cifar10_test_200ep");
        assert_eq!(s["archs_ranked"], r["n"]);
        assert_eq!(s["archs_scored"], r["n"]);
        assert_eq!(s["kendall_tau"], r["kendall_tau_b"]);
        assert_eq!(s["spearman_rho"], r["spearman_rho"]);
        assert_eq!(s["top_1_percent"], *percent(&r["top_percent_hit"], 1.0));
        assert_eq!(s["top_10_percent"], *percent(&r["top_percent_hit"], 10.0));
        assert_eq!(s["bottom_10_percent"], *percent(&r["bottom_percent_hit"], 10.0));
        // The strongest bias is the feature with the largest |ρ| against the rank error, the first of
        // equals (in NB201 conv_count and param_free_count always tie: they add up to 6).
        let r = |f: &Value| f["spearman_rank_error"].as_f64().map(f64::abs);
        let features = j["bias"]["features"].as_array().unwrap();
        let max = features.iter().filter_map(r).fold(0.0, f64::max);
        let best = features.iter().find(|f| r(f) == Some(max)).unwrap();
        assert_eq!(s["strongest_bias"]["feature"], best["feature"]);
        assert_eq!(s["strongest_bias"]["spearman_rank_error"], best["spearman_rank_error"]);
    }
    let sn = &runs.supernet.1["summary"];
    assert_eq!(sn["archs_ranked"], 60);
    assert_eq!(sn["supernet"]["epochs"], 3);
    assert_eq!(
        sn["supernet"]["tau_per_epoch"],
        serde_json::json!([{ "epoch": 0, "tau": 0.125 }, { "epoch": 2, "tau": 0.375 }])
    );
    let biased = &runs.biased.1["summary"];
    assert!(biased.get("supernet").is_none(), "{biased}");
    assert_eq!(biased["strongest_bias"]["feature"], "param_free_count");
    assert_eq!(biased["strongest_bias"]["called"], true);
    assert_eq!(biased["strongest_bias"]["favours"], "cells with more parameter-free ops");
}

/// The cells of the Markdown table row whose run is `label`.
fn table_row(md: &str, label: &str) -> Vec<String> {
    let line = md
        .lines()
        .find(|l| l.starts_with(&format!("| {label} |")))
        .unwrap_or_else(|| panic!("no row for {label} in\n{md}"));
    line.trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect()
}

fn report(runs: &Runs, out: &Path) -> String {
    ok(&["report", "ranking", runs.root.to_str().unwrap(), "--out", out.to_str().unwrap()])
}

#[test]
fn report_table_matches_rank_json() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = two_runs(&tmp.path().join("runs"));
    let out = tmp.path().join("report");
    let stdout = report(&runs, &out);
    let md = std::fs::read_to_string(out.join("ranking.md")).unwrap();
    assert!(md.contains(stdout.lines().next().unwrap()), "the printed table is the Markdown one:\n{stdout}");
    let header = md.lines().find(|l| l.starts_with("| run |")).unwrap();
    assert_eq!(
        header,
        "| run | space | supernet epochs | archs scored | ground truth | Kendall τ | Spearman ρ | P@top-1% | P@top-10% \
         | bottom-10% precision | strongest bias |"
    );
    for ((dir, j), epochs) in [(&runs.supernet, "3"), (&runs.biased, "–")] {
        let cells = table_row(&md, &dir.display().to_string());
        let (s, r) = (&j["summary"], &j["rank"]);
        let p = |v: &Value| format!("{:.2} (k={})", v["value"].as_f64().unwrap(), v["k"]);
        assert_eq!(cells[1], "nb201");
        assert_eq!(cells[2], epochs);
        assert_eq!(cells[3], r["n"].to_string());
        assert_eq!(cells[4], "cifar10_test_200ep");
        assert_eq!(cells[5], format!("{:+.3}", r["kendall_tau_b"].as_f64().unwrap()));
        assert_eq!(cells[6], format!("{:+.3}", r["spearman_rho"].as_f64().unwrap()));
        assert_eq!(cells[7], p(percent(&r["top_percent_hit"], 1.0)));
        assert_eq!(cells[8], p(percent(&r["top_percent_hit"], 10.0)));
        assert_eq!(cells[9], p(percent(&r["bottom_percent_hit"], 10.0)));
        assert!(cells[10].contains(s["strongest_bias"]["feature"].as_str().unwrap()), "{cells:?}");
    }
    let biased = table_row(&md, &runs.biased.0.display().to_string());
    assert!(biased[10].starts_with("favours cells with more parameter-free ops (param_free_count ρ -"), "{biased:?}");

    // Plots: the scatters of both runs (by path: 01 search/, 02 sn/), τ per epoch for the supernet
    // run, and all runs' τ together.
    for png in ["plots/01-scatter.png", "plots/02-scatter.png", "plots/02-tau.png", "plots/tau-all.png"] {
        let bytes = std::fs::read(out.join(png)).unwrap_or_else(|e| panic!("{png}: {e}"));
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{png}");
        assert!(md.contains(&format!("]({png})")), "{png} is not in the Markdown");
    }
    assert!(!out.join("plots/01-tau.png").exists());
    assert!(md.contains("no supernet.jsonl beside the scores"), "{md}");
    assert_eq!(
        std::fs::read(out.join("plots/02-scatter.png")).unwrap(),
        std::fs::read(runs.supernet.0.join("scatter.png")).unwrap()
    );

    // The page embeds every image, byte for byte (a browser shows a truncated PNG without complaint,
    // so this is checked here), and loads nothing from elsewhere.
    let html = std::fs::read_to_string(out.join("ranking.html")).unwrap();
    assert_eq!(html.matches("<img ").count(), 4);
    assert_eq!(html.matches("src=").count(), 4);
    let files: Vec<Vec<u8>> = ["01-scatter", "02-scatter", "02-tau", "tau-all"]
        .iter()
        .map(|f| std::fs::read(out.join(format!("plots/{f}.png"))).unwrap())
        .collect();
    assert!(embedded_pngs(&html) == files, "the page's images are not the plots, in order");
    assert!(!html.contains("http") && !html.contains("<script"), "external resource or script in the page");

    // A rank dir itself works as well as a directory above it, and a second report replaces the first.
    let one = ok(&["report", "ranking", runs.biased.0.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(one.lines().filter(|l| l.starts_with("| ")).count(), 2, "header and one run: {one}");
    assert!(!out.join("plots/02-tau.png").exists(), "the earlier report's plots are gone");
}

#[test]
fn report_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(empty.join("deeper")).unwrap();
    let e = fails(&["report", "ranking", empty.to_str().unwrap(), "--out", tmp.path().join("r").to_str().unwrap()]);
    assert!(e.contains("no rank.json in it or below it") && e.contains(empty.to_str().unwrap()), "{e}");
    let e = fails(&["report", "ranking"]);
    assert!(e.contains("<DIR>"), "{e}");
    // A rank.json of an older oxnas, without a summary: the fix is to rerun rank.
    let old = tmp.path().join("old.csv.rank");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("rank.json"), r#"{"scores": "old.csv", "truth": "cifar10_test_200ep", "rank": {}}"#)
        .unwrap();
    let e = fails(&["report", "ranking", old.to_str().unwrap(), "--out", tmp.path().join("r").to_str().unwrap()]);
    assert!(e.contains("rerun `oxnas rank --scores old.csv`"), "{e}");
    // Someone else's directory is not written into.
    let theirs = tmp.path().join("theirs");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::write(theirs.join("notes.txt"), "mine").unwrap();
    let runs = two_runs(&tmp.path().join("runs"));
    let e = fails(&["report", "ranking", runs.root.to_str().unwrap(), "--out", theirs.to_str().unwrap()]);
    assert!(e.contains("not empty"), "{e}");
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 1);
}

/// Standard base64 with padding, as the page embeds its images.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {}", c as char),
    };
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        assert_eq!(chunk.len(), 4, "base64 length is not a multiple of 4");
        let data: Vec<u8> = chunk.iter().copied().take_while(|&c| c != b'=').collect();
        let n = data.iter().enumerate().fold(0u32, |n, (i, &c)| n | u32::from(value(c)) << (18 - 6 * i));
        out.extend(n.to_be_bytes()[1..data.len()].iter());
    }
    out
}

/// The PNGs of the page's data URIs, in document order.
fn embedded_pngs(html: &str) -> Vec<Vec<u8>> {
    const PREFIX: &str = r#"src="data:image/png;base64,"#;
    html.match_indices(PREFIX)
        .map(|(at, _)| {
            let data = &html[at + PREFIX.len()..];
            base64_decode(&data[..data.find('"').unwrap()])
        })
        .collect()
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u64, u64) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR", "not a PNG");
    let be = |b: &[u8]| u64::from(u32::from_be_bytes(b.try_into().unwrap()));
    (be(&png[16..20]), be(&png[20..24]))
}

#[test]
fn base64_decoder_of_the_tests() {
    assert_eq!(base64_decode("Zm9vYmFy"), b"foobar");
    assert_eq!(base64_decode("Zm9vYg=="), b"foob");
    assert_eq!(base64_decode("Zm9vYmE="), b"fooba");
    assert_eq!(base64_decode("//4A"), [0xff, 0xfe, 0x00]);
}

// ---- the page in a real browser ----

/// Chromium's path, or None (with a message) where the browser tests are skipped.
fn chromium(test: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var("OXNAS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if path.is_file() {
        return Some(path);
    }
    let why = format!("no chromium at {}", path.display());
    if std::env::var("OXNAS_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
        panic!("OXNAS_REQUIRE_CHROMIUM=1 but {why}; install it with scripts/chromium-up.sh");
    }
    eprintln!(
        "skipping {test}: {why}. Install Debian's chromium (scripts/chromium-up.sh, or apt-get install -y chromium) to run it"
    );
    None
}

/// Goes first in <head>: records console.error calls, uncaught errors and elements that fail to
/// load, and after the load event writes what it saw (and the images' state) into a <pre>.
const PROBE: &str = r#"<script>
(function () {
  var errors = [];
  var original = console.error;
  console.error = function () { errors.push(Array.prototype.join.call(arguments, ' ')); original.apply(console, arguments); };
  window.addEventListener('error', function (e) {
    var t = e.target;
    errors.push(e.message || ('cannot load ' + String(t && (t.src || t.href))));
  }, true);
  window.addEventListener('load', function () {
    var broken = [], sizes = [];
    for (var i = 0; i < document.images.length; i++) {
      var im = document.images[i];
      if (!im.complete || im.naturalWidth === 0) broken.push(i);
      sizes.push([im.naturalWidth, im.naturalHeight]);
    }
    var pre = document.createElement('pre');
    pre.id = 'oxnas-probe';
    pre.textContent = JSON.stringify({ images: document.images.length, broken: broken, sizes: sizes, errors: errors,
      title: document.title, rows: document.querySelectorAll('table tr').length });
    document.body.appendChild(pre);
  });
})();
</script>"#;

/// What the browser saw of a page: the probe's record, and the console lines chromium logged.
#[derive(Debug)]
struct Seen {
    probe: Value,
    console: Vec<String>,
}

impl Seen {
    fn clean(&self) -> bool {
        self.probe["broken"].as_array().is_some_and(Vec::is_empty)
            && self.probe["errors"].as_array().is_some_and(Vec::is_empty)
            && self.console.is_empty()
    }
}

/// Loads a copy of `page` with the probe in it in headless chromium and returns what it saw.
fn browse(chromium: &Path, page: &Path) -> Seen {
    let html = std::fs::read_to_string(page).unwrap();
    let at = html.find("<head>").expect("the page has a <head>") + "<head>".len();
    // Beside the page, so that relative paths resolve as they would for it.
    let probed = page.with_extension("probed.html");
    std::fs::write(&probed, format!("{}{PROBE}{}", &html[..at], &html[at..])).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", std::fs::canonicalize(&probed).unwrap().display());
    // Files, not pipes: the DOM with its embedded images is far larger than a pipe holds, and the
    // browser would block writing it while we wait for it to end.
    let (dom_file, log_file) = (profile.path().join("dom.html"), profile.path().join("stderr.log"));
    let mut child = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom", &url])
        .stdout(Stdio::from(std::fs::File::create(&dom_file).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&log_file).unwrap()))
        .spawn()
        .expect("chromium starts");
    // A hung browser must not hang the suite; two minutes is far beyond the ~2 s a page takes.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("chromium did not finish loading {url} within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = std::fs::read_to_string(&dom_file).unwrap();
    let stderr = std::fs::read_to_string(&log_file).unwrap();
    assert!(status.success(), "chromium failed on {url}:\n{stderr}");
    let start = dom.find(r#"<pre id="oxnas-probe">"#).unwrap_or_else(|| {
        panic!("the page did not finish loading (no probe record in the DOM):\n{dom}\n--- stderr\n{stderr}")
    }) + r#"<pre id="oxnas-probe">"#.len();
    let end = start + dom[start..].find("</pre>").unwrap();
    // Text content comes back HTML-escaped; &amp; last, so that an escaped entity stays one.
    let text = dom[start..end].replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&");
    let probe = serde_json::from_str(&text).unwrap_or_else(|e| panic!("probe record {text}: {e}"));
    let console = stderr.lines().filter(|l| l.contains(":CONSOLE")).map(String::from).collect();
    Seen { probe, console }
}

#[test]
fn html_report_renders_in_chromium_with_every_image_and_no_console_error() {
    let Some(chromium) = chromium("html_report_renders_in_chromium_with_every_image_and_no_console_error") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let runs = two_runs(&tmp.path().join("runs"));
    let out = tmp.path().join("report");
    report(&runs, &out);
    let seen = browse(&chromium, &out.join("ranking.html"));
    assert!(seen.clean(), "{seen:#?}");
    assert_eq!(seen.probe["images"], 4, "{seen:#?}");
    // Each image is shown at the size of the PNG embedded for it.
    let html = std::fs::read_to_string(out.join("ranking.html")).unwrap();
    let sizes: Vec<(u64, u64)> = embedded_pngs(&html).iter().map(|p| png_size(p)).collect();
    let shown: Vec<(u64, u64)> = seen.probe["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s[0].as_u64().unwrap(), s[1].as_u64().unwrap()))
        .collect();
    assert_eq!(shown, sizes);
    assert_eq!(seen.probe["rows"], 3, "header and two runs: {seen:#?}");
    assert_eq!(seen.probe["title"], "Supernet ranking across spaces");
}

/// The check can fail: a broken image, a missing file, a console error and a thrown error are
/// each caught, and a good page with the same shape passes.
#[test]
fn chromium_check_catches_broken_pages() {
    let Some(chromium) = chromium("chromium_check_catches_broken_pages") else { return };
    let tmp = tempfile::tempdir().unwrap();
    // A 1x1 PNG, and the same with its data cut off.
    let good = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let page = |name: &str, body: &str| {
        let path = tmp.path().join(format!("{name}.html"));
        std::fs::write(
            &path,
            format!("<!DOCTYPE html><html><head><title>{name}</title></head><body>{body}</body></html>"),
        )
        .unwrap();
        browse(&chromium, &path)
    };
    let img = |src: &str| format!(r#"<img alt="x" src="{src}">"#);
    let ok_page = page("good", &img(&format!("data:image/png;base64,{good}")));
    assert!(ok_page.clean() && ok_page.probe["images"] == 1, "{ok_page:#?}");

    let truncated = page("truncated", &img(&format!("data:image/png;base64,{}", &good[..24])));
    assert_eq!(truncated.probe["broken"], serde_json::json!([0]), "{truncated:#?}");
    assert!(!truncated.clean());
    let missing = page("missing", &format!("{}{}", img(&format!("data:image/png;base64,{good}")), img("nowhere.png")));
    assert_eq!(missing.probe["broken"], serde_json::json!([1]), "{missing:#?}");
    assert!(missing.probe["errors"][0].as_str().unwrap().contains("nowhere.png"), "{missing:#?}");

    let logged = page("logged", "<script>console.error('bad <thing> & more')</script>");
    assert_eq!(logged.probe["errors"], serde_json::json!(["bad <thing> & more"]), "{logged:#?}");
    assert!(logged.console.iter().any(|l| l.contains("bad <thing> & more")), "{logged:#?}");
    let thrown = page("thrown", "<script>null.boom()</script>");
    assert!(thrown.probe["errors"][0].as_str().unwrap().contains("TypeError"), "{thrown:#?}");
    assert!(!thrown.clean());
}
