//! A deterministic, realistic mix of files for benchmarks: source code, lock files and logs,
//! with a few planted secrets whose positions are recorded (so tools can be scored).

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

use drydock_secrets::fixtures::{FakeRng, expand};

/// One generated file.
pub struct MixFile {
    /// Relative path.
    pub path: String,
    /// Content.
    pub text: String,
}

/// A secret placed in the mix.
pub struct Planted {
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// The built-in rule expected to find it.
    pub rule: String,
}

/// The mix: files and where the secrets are.
pub struct Mix {
    pub files: Vec<MixFile>,
    pub planted: Vec<Planted>,
}

/// Secret lines planted into source files and logs: (rule, template).
const PLANTS: &[(&str, &str)] = &[
    ("github-pat", "    let token = \"ghp_{{alnum:36}}\";"),
    ("aws-access-key-id", "AWS_ACCESS_KEY_ID=AKIA{{base32:16}}"),
    (
        "slack-token",
        "SLACK_BOT_TOKEN = \"xoxb-{{digits:12}}-{{digits:13}}-{{alnum:24}}\"",
    ),
    ("stripe-key", "stripe.api_key = \"sk_live_{{alnum:24}}\""),
    (
        "anthropic-api-key",
        "client = Anthropic(api_key=\"sk-ant-api03-{{b64url:93}}AA\")",
    ),
    (
        "openai-api-key",
        "OPENAI_API_KEY=sk-proj-{{b64url:74}}T3BlbkFJ{{b64url:74}}",
    ),
    (
        "connection-string-password",
        "DATABASE_URL=postgres://app:{{alnum:20}}@db.internal:5432/app",
    ),
    (
        "generic-secret",
        "    password: \"{{alnum:16}}{{digits:2}}\"",
    ),
    ("jwt", "Authorization: Bearer {{jwt}}"),
    ("gcp-api-key", "const key = \"AIza{{alnum:35}}\";"),
    (
        "npm-token",
        "//registry.npmjs.org/:_authToken=npm_{{alnum:36}}",
    ),
    (
        "sendgrid-api-key",
        "SENDGRID_API_KEY=SG.{{alnum:22}}.{{alnum:43}}",
    ),
];

const RUST_LINES: &[&str] = &[
    "use std::collections::HashMap;",
    "/// Returns the {{lower:6}} for a given key, or `None` when it is missing.",
    "pub fn {{lower:8}}(input: &str, limit: usize) -> Result<Vec<String>, Error> {",
    "    let mut {{lower:5}} = Vec::with_capacity(limit);",
    "    for (index, item) in input.split(',').enumerate() {",
    "        if item.trim().is_empty() { continue; }",
    "        map.insert(item.to_string(), index as u64 * 31 + 7);",
    "    }",
    "    Ok(out)",
    "}",
    "",
    "#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]",
    "pub struct {{upper:1}}{{lower:7}} { pub id: Uuid, pub name: String, pub token_count: u32 }",
    "    const CACHE_KEY: &str = \"{{hex:40}}\";",
    "    let request_id = \"{{hex:8}}-{{hex:4}}-{{hex:4}}-{{hex:4}}-{{hex:12}}\";",
    "    // TODO(perf): avoid the clone of the token buffer here",
    "    let password = prompt_password(\"Password: \")?;",
    "    let secret = config.secret.as_deref().unwrap_or_default();",
    "    assert_eq!(hash(b\"abc\"), \"{{hex:64}}\");",
    "    tracing::debug!(bytes = n, \"read {} bytes from {}\", n, path.display());",
];

const PYTHON_LINES: &[&str] = &[
    "import os",
    "from typing import Optional",
    "def {{lower:8}}(self, token: Optional[str] = None) -> dict:",
    "    \"\"\"Fetch the {{lower:6}} resource and return it as a dict.\"\"\"",
    "    headers = {\"Authorization\": f\"Bearer {token}\"}",
    "    api_key = os.environ.get(\"API_KEY\")",
    "    password = getpass.getpass()",
    "    resp = requests.get(f\"{BASE_URL}/v1/items/{item_id}\", headers=headers, timeout=30)",
    "    return {\"id\": \"{{hex:24}}\", \"etag\": \"{{hex:32}}\"}",
    "    logger.info(\"processed %d records in %.2fs\", count, elapsed)",
    "class {{upper:1}}{{lower:9}}(BaseModel):",
    "    model_config = ConfigDict(extra=\"forbid\")",
    "    max_tokens: int = 4096",
    "",
];

const JS_LINES: &[&str] = &[
    "import { {{lower:6}} } from './{{lower:6}}.js';",
    "export async function {{lower:8}}(req, res) {",
    "  const token = req.headers['authorization']?.split(' ')[1];",
    "  const { data } = await axios.get(`/api/${id}`, { headers: { 'X-Request-Id': uuid() } });",
    "  if (!token) return res.status(401).json({ error: 'missing token' });",
    "  return data.items.map((item) => ({ ...item, key: `${item.id}-{{hex:8}}` }));",
    "}",
    "const COMMIT = '{{hex:40}}';",
    "// eslint-disable-next-line no-console",
    "",
];

const LOG_LINES: &[&str] = &[
    "2024-05-{{digits:2}}T12:{{digits:2}}:{{digits:2}}.{{digits:3}}Z INFO  http: GET /api/v1/repos/{{lower:6}}/pulls 200 {{digits:2}}ms request_id={{hex:32}}",
    "2024-05-{{digits:2}}T12:{{digits:2}}:{{digits:2}}.{{digits:3}}Z DEBUG db: query took {{digits:3}}ms rows={{digits:2}} trace_id={{hex:32}} span_id={{hex:16}}",
    "2024-05-{{digits:2}}T12:{{digits:2}}:{{digits:2}}.{{digits:3}}Z WARN  auth: token refresh failed for user {{digits:5}}; retrying in 30s",
    "2024-05-{{digits:2}}T12:{{digits:2}}:{{digits:2}}.{{digits:3}}Z INFO  build: step {{digits:2}}/40 : RUN cargo build --release sha256:{{hex:64}}",
    "   Compiling {{lower:8}} v0.{{digits:1}}.{{digits:2}}",
    "test {{lower:6}}::tests::{{lower:10}} ... ok",
];

fn cargo_lock(rng: &mut FakeRng, packages: usize) -> String {
    let mut out =
        String::from("# This file is automatically @generated by Cargo.\nversion = 4\n\n");
    for _ in 0..packages {
        let _ = write!(
            out,
            "[[package]]\nname = \"{}\"\nversion = \"{}.{}.{}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{}\"\ndependencies = [\n \"{}\",\n]\n\n",
            rng.string(b"abcdefghijklmnopqrstuvwxyz-", 9),
            rng.below(3),
            rng.below(40),
            rng.below(20),
            rng.string(b"0123456789abcdef", 64),
            rng.string(b"abcdefghijklmnopqrstuvwxyz", 7),
        );
    }
    out
}

fn package_lock(rng: &mut FakeRng, packages: usize) -> String {
    let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out =
        String::from("{\n  \"name\": \"web\",\n  \"lockfileVersion\": 3,\n  \"packages\": {\n");
    for _ in 0..packages {
        let name = rng.string(b"abcdefghijklmnopqrstuvwxyz-", 8);
        let _ = write!(
            out,
            "    \"node_modules/{name}\": {{\n      \"version\": \"{}.{}.{}\",\n      \"resolved\": \"https://registry.npmjs.org/{name}/-/{name}-1.0.0.tgz\",\n      \"integrity\": \"sha512-{}==\",\n      \"dev\": true\n    }},\n",
            rng.below(9),
            rng.below(30),
            rng.below(9),
            rng.string(b64, 86),
        );
    }
    out.push_str("  }\n}\n");
    out
}

fn go_sum(rng: &mut FakeRng, modules: usize) -> String {
    let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for _ in 0..modules {
        let module = format!(
            "github.com/{}/{}",
            rng.string(b"abcdefghijklmnop", 6),
            rng.string(b"abcdefghijklmnop", 8)
        );
        let _ = writeln!(
            out,
            "{module} v1.{}.{} h1:{}=",
            rng.below(20),
            rng.below(10),
            rng.string(b64, 43)
        );
        let _ = writeln!(
            out,
            "{module} v1.{}.{}/go.mod h1:{}=",
            rng.below(20),
            rng.below(10),
            rng.string(b64, 43)
        );
    }
    out
}

fn poetry_lock(rng: &mut FakeRng, packages: usize) -> String {
    let mut out = String::new();
    for _ in 0..packages {
        let name = rng.string(b"abcdefghijklmnopqrstuvwxyz", 7);
        let _ = write!(
            out,
            "[[package]]\nname = \"{name}\"\nversion = \"2.{}.{}\"\noptional = false\npython-versions = \">=3.8\"\nfiles = [\n    {{file = \"{name}-2.0-py3-none-any.whl\", hash = \"sha256:{}\"}},\n    {{file = \"{name}-2.0.tar.gz\", hash = \"sha256:{}\"}},\n]\n\n",
            rng.below(30),
            rng.below(9),
            rng.string(b"0123456789abcdef", 64),
            rng.string(b"0123456789abcdef", 64),
        );
    }
    out
}

/// Writes lines from `pool` until the file reaches `bytes`, planting a secret every
/// `plant_every` lines (0: never).
fn code_file(
    rng: &mut FakeRng,
    path: &str,
    pool: &[&str],
    bytes: usize,
    plant_every: usize,
    planted: &mut Vec<Planted>,
) -> MixFile {
    let mut text = String::with_capacity(bytes + 256);
    let mut line = 0;
    while text.len() < bytes {
        line += 1;
        if plant_every > 0 && line % plant_every == 0 {
            let (rule, template) = PLANTS[rng.below(PLANTS.len())];
            text.push_str(&expand(template, rng).text);
            planted.push(Planted {
                path: path.to_string(),
                line,
                rule: rule.to_string(),
            });
        } else {
            text.push_str(&expand(pool[rng.below(pool.len())], rng).text);
        }
        text.push('\n');
    }
    MixFile {
        path: path.to_string(),
        text,
    }
}

/// About `megabytes` MB of files: 45% source code, 30% logs, 25% lock files.
pub fn generate(megabytes: usize, seed: u64) -> Mix {
    let mut rng = FakeRng::new(seed);
    let mut files = Vec::new();
    let mut planted = Vec::new();
    let total = megabytes << 20;
    let per_file = 256 << 10;
    let mut produced = 0;
    let mut index = 0;
    while produced < total {
        index += 1;
        let file = match index % 20 {
            0..=3 => code_file(
                &mut rng,
                &format!("src/module_{index}.rs"),
                RUST_LINES,
                per_file,
                2500,
                &mut planted,
            ),
            4..=6 => code_file(
                &mut rng,
                &format!("app/service_{index}.py"),
                PYTHON_LINES,
                per_file,
                2500,
                &mut planted,
            ),
            7..=8 => code_file(
                &mut rng,
                &format!("web/component_{index}.js"),
                JS_LINES,
                per_file,
                2500,
                &mut planted,
            ),
            9..=14 => code_file(
                &mut rng,
                &format!("logs/app_{index}.log"),
                LOG_LINES,
                per_file,
                4000,
                &mut planted,
            ),
            15 => MixFile {
                path: format!("lock_{index}/Cargo.lock"),
                text: cargo_lock(&mut rng, 900),
            },
            16 => MixFile {
                path: format!("lock_{index}/package-lock.json"),
                text: package_lock(&mut rng, 1000),
            },
            17 => MixFile {
                path: format!("lock_{index}/go.sum"),
                text: go_sum(&mut rng, 1200),
            },
            18 => MixFile {
                path: format!("lock_{index}/poetry.lock"),
                text: poetry_lock(&mut rng, 700),
            },
            _ => code_file(
                &mut rng,
                &format!("src/extra_{index}.rs"),
                RUST_LINES,
                per_file,
                0,
                &mut planted,
            ),
        };
        produced += file.text.len();
        files.push(file);
    }
    Mix { files, planted }
}

/// Writes the mix under `dir`.
pub fn write(mix: &Mix, dir: &Path) -> std::io::Result<()> {
    for file in &mix.files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &file.text)?;
    }
    Ok(())
}
