//! The built-in rule table, most specific first (a span found by several rules takes the label
//! of the one listed first). Every entry carries its own examples and counter-examples as
//! templates (see `fixtures`); `builtin_tests.rs` checks each one.

use super::Spec;
use crate::rule::Check;

const D: Spec = Spec::DEFAULT;

/// A `key = value` separator in code, config, env files, YAML and JSON.
macro_rules! assign {
    () => {
        r#"["']?[ \t]*(?:=|:=|:|=>|==|!=|\?=|\|\|=)[ \t]*"#
    };
}

pub(crate) const SPECS: &[Spec] = &[
    Spec {
        id: "private-key",
        description: "PEM, OpenSSH, PKCS#8 and PGP private key blocks (also JSON-escaped, also truncated)",
        keywords: &["private key-----", "private key block-----"],
        regex: r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?P<body>[A-Za-z0-9+/=\s:,\\-]{32,}?)(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|[^A-Za-z0-9+/=\s:,\\-]|\z)",
        group_name: Some("body"),
        multiline: true,
        examples: &[
            "-----BEGIN RSA PRIVATE KEY-----\n{{b64:64}}\n{{b64:64}}\n{{b64:40}}==\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{{b64:70}}\n{{b64:70}}\n-----END OPENSSH PRIVATE KEY-----\n",
            "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{{HEX:32}}\n\n{{b64:64}}\n{{b64:20}}\n-----END EC PRIVATE KEY-----",
            r#"{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\n{{b64:64}}\n{{b64:64}}\n-----END PRIVATE KEY-----\n", "client_email": "bot@proj.iam.gserviceaccount.com"}"#,
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n{{b64:64}}\n{{b64:64}}\n={{b64:4}}\n-----END PGP PRIVATE KEY BLOCK-----",
            "$ head -c 200 id_ed25519\n-----BEGIN OPENSSH PRIVATE KEY-----\n{{b64:70}}\n{{b64:60}}",
        ],
        counter_examples: &[
            "-----BEGIN CERTIFICATE-----\n{{b64:64}}\n-----END CERTIFICATE-----",
            "-----BEGIN PUBLIC KEY-----\n{{b64:64}}\n-----END PUBLIC KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----\n<your private key here>\n-----END PRIVATE KEY-----",
            "Paste the -----BEGIN PRIVATE KEY----- block into the field.",
        ],
        ..D
    },
    Spec {
        id: "aws-access-key-id",
        description: "AWS access key id (AKIA/ASIA/...)",
        exact_keywords: &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
        regex: r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
        entropy: Some(3.0),
        examples: &[
            "aws_access_key_id = AKIA{{base32:16}}",
            r#"{"AccessKeyId": "ASIA{{base32:16}}", "Expiration": "2030-01-01T00:00:00Z"}"#,
            "export AWS_ACCESS_KEY_ID=AKIA{{base32:16}}",
        ],
        counter_examples: &[
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
            "AKIAAAAAAAAAAAAAAAAA",
            "The ASIA region has AKIA-prefixed ids.",
            "XAKIA{{base32:16}}Y",
        ],
        ..D
    },
    Spec {
        id: "aws-secret-access-key",
        description: "AWS secret access key, next to its name",
        keywords: &[
            "secret_access_key",
            "secretaccesskey",
            "secret-access-key",
            "aws_secret",
            "aws-secret",
            "awssecret",
        ],
        regex: concat!(
            r#"(?i)(?:aws[_-]?secret[_-]?access[_-]?key|aws[_-]?secret[_-]?key|secret[_-]?access[_-]?key|aws[_-]?secret)"#,
            assign!(),
            r#"["']?(?P<s>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=\n]|$)"#
        ),
        group_name: Some("s"),
        entropy: Some(3.5),
        examples: &[
            "aws_secret_access_key = {{b64:40}}",
            r#"{"SecretAccessKey": "{{b64:40}}", "SessionToken": "x"}"#,
            "AWS_SECRET_ACCESS_KEY='{{b64:40}}'",
        ],
        counter_examples: &[
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}",
            "secret_access_key: {{b64:30}}",
        ],
        ..D
    },
    Spec {
        id: "aws-session-token",
        description: "AWS session token, next to its name",
        keywords: &[
            "session_token",
            "sessiontoken",
            "session-token",
            "x-amz-security-token",
        ],
        regex: concat!(
            r#"(?i)(?:aws[_-]?session[_-]?token|session[_-]?token|x-amz-security-token)"#,
            assign!(),
            r#"["']?(?P<s>[A-Za-z0-9/+=%]{100,})"#
        ),
        group_name: Some("s"),
        entropy: Some(3.5),
        examples: &[
            "aws_session_token = IQoJb3JpZ2luX2Vj{{b64:200}}",
            r#""SessionToken": "FwoGZXIvYXdzE{{b64:300}}","#,
        ],
        counter_examples: &["aws_session_token = {{b64:40}}"],
        ..D
    },
    Spec {
        id: "gcp-api-key",
        description: "Google / GCP API key (AIza...)",
        exact_keywords: &["AIza"],
        regex: r"AIza[0-9A-Za-z_-]{35}",
        check: Check::Random,
        examples: &[
            "GOOGLE_API_KEY=AIza{{alnum:35}}",
            r#"<script src="https://maps.googleapis.com/maps/api/js?key=AIza{{alnum:35}}"></script>"#,
        ],
        counter_examples: &[
            "key=AIzaSyDUMMYDUMMYDUMMYDUMMYDUMMYDUMMYDUMM",
            "AIza{{alnum:20}}",
        ],
        ..D
    },
    Spec {
        id: "gcp-oauth-client-secret",
        description: "Google OAuth client secret (GOCSPX-...)",
        keywords: &["gocspx-"],
        regex: r"GOCSPX-[A-Za-z0-9_-]{28}",
        check: Check::Random,
        examples: &[r#""client_secret": "GOCSPX-{{alnum:28}}""#],
        counter_examples: &["GOCSPX-{{alnum:10}}"],
        ..D
    },
    Spec {
        id: "gcp-oauth-access-token",
        description: "Google OAuth access token (ya29....)",
        keywords: &["ya29."],
        regex: r"\bya29\.[0-9A-Za-z_-]{30,}",
        check: Check::Random,
        examples: &["Authorization: OAuth ya29.a0{{alnum:120}}"],
        counter_examples: &["ya29.short"],
        ..D
    },
    Spec {
        id: "azure-storage-account-key",
        description: "Azure storage account key in a connection string",
        keywords: &["accountkey"],
        regex: r"(?i)AccountKey[ \t]*=[ \t]*(?P<s>[A-Za-z0-9+/]{86}==)",
        group_name: Some("s"),
        entropy: Some(4.0),
        examples: &[
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={{b64:86}}==;EndpointSuffix=core.windows.net",
        ],
        counter_examples: &["AccountKey=<account-key>", "AccountKey={{b64:40}}=="],
        ..D
    },
    Spec {
        id: "azure-shared-access-key",
        description: "Azure Service Bus / Event Hubs / IoT shared access key",
        keywords: &["sharedaccesskey"],
        regex: r"(?i)SharedAccessKey[ \t]*=[ \t]*(?P<s>[A-Za-z0-9+/]{42,43}=)",
        group_name: Some("s"),
        entropy: Some(4.0),
        examples: &[
            "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={{b64:43}}=",
        ],
        counter_examples: &["SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=<key>"],
        ..D
    },
    Spec {
        id: "azure-sas-signature",
        description: "Azure shared access signature (sig= in a SAS URL)",
        keywords: &["sig="],
        regex: r"(?i)[?&]sig=(?P<s>[A-Za-z0-9%+/=]{40,})",
        group_name: Some("s"),
        entropy: Some(4.0),
        examples: &[
            "https://acme.blob.core.windows.net/c/f.txt?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01&sig={{b64:43}}%3D",
        ],
        counter_examples: &["https://example.org/page?sig=short"],
        ..D
    },
    Spec {
        id: "azure-ad-client-secret",
        description: "Microsoft Entra ID (Azure AD) client secret (xxx8Q~...)",
        keywords: &["q~"],
        regex: r"(?:^|[^A-Za-z0-9_~.\n-])(?P<s>[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.\n-]|$)",
        group_name: Some("s"),
        check: Check::Random,
        examples: &[r#"AZURE_CLIENT_SECRET="{{alnum:3}}8Q~{{alnum:34}}""#],
        counter_examples: &["path~/Q~ notes"],
        ..D
    },
    Spec {
        id: "github-pat",
        description: "GitHub personal access token (classic, ghp_)",
        keywords: &["ghp_"],
        regex: r"ghp_[A-Za-z0-9]{36,251}",
        check: Check::Random,
        examples: &[
            "GITHUB_TOKEN=ghp_{{alnum:36}}",
            "git clone https://ghp_{{alnum:36}}@github.com/acme/app.git",
        ],
        counter_examples: &[
            "ghp_{{alnum:20}}",
            "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ],
        ..D
    },
    Spec {
        id: "github-oauth-token",
        description: "GitHub OAuth access token (gho_)",
        keywords: &["gho_"],
        regex: r"gho_[A-Za-z0-9]{36,251}",
        check: Check::Random,
        examples: &["oauth_token: gho_{{alnum:36}}"],
        counter_examples: &["gho_{{alnum:10}}"],
        ..D
    },
    Spec {
        id: "github-app-token",
        description: "GitHub App user-to-server or installation token (ghu_, ghs_)",
        keywords: &["ghu_", "ghs_"],
        regex: r"gh[us]_[A-Za-z0-9]{36,251}",
        check: Check::Random,
        examples: &[
            "https://x-access-token:ghs_{{alnum:36}}@github.com/acme/app",
            r#"{"token":"ghu_{{alnum:36}}","expires_at":"2030-01-01"}"#,
        ],
        counter_examples: &["ghs_{{alnum:12}}"],
        ..D
    },
    Spec {
        id: "github-refresh-token",
        description: "GitHub refresh token (ghr_)",
        keywords: &["ghr_"],
        regex: r"ghr_[A-Za-z0-9]{36,251}",
        check: Check::Random,
        examples: &["refresh_token=ghr_{{alnum:76}}"],
        counter_examples: &["ghr_{{alnum:12}}"],
        ..D
    },
    Spec {
        id: "github-fine-grained-pat",
        description: "GitHub fine-grained personal access token (github_pat_)",
        keywords: &["github_pat_"],
        regex: r"github_pat_[A-Za-z0-9_]{82,244}",
        check: Check::Random,
        examples: &["token = \"github_pat_{{alnum:22}}_{{alnum:59}}\""],
        counter_examples: &["github_pat_{{alnum:22}}"],
        ..D
    },
    Spec {
        id: "gitlab-pat",
        description: "GitLab personal, project or group access token (glpat-)",
        keywords: &["glpat-"],
        regex: r"glpat-[A-Za-z0-9_-]{20,}",
        check: Check::Random,
        examples: &[
            "GITLAB_TOKEN=glpat-{{alnum:20}}",
            "https://oauth2:glpat-{{alnum:20}}@gitlab.com/acme/app.git",
        ],
        counter_examples: &["glpat-{{alnum:10}}"],
        ..D
    },
    Spec {
        id: "gitlab-token",
        description: "GitLab deploy, runner, trigger, CI/CD job, OAuth and other tokens",
        keywords: &[
            "gldt-",
            "glrt-",
            "glptt-",
            "glcbt-",
            "glsoat-",
            "gloas-",
            "glffct-",
            "glimt-",
            "glagent-",
            "gr1348941",
        ],
        regex: r"(?:\b(?:gldt|glrt|glptt|glcbt|glsoat|gloas|glffct|glimt|glagent)-|\bGR1348941)[A-Za-z0-9_-]{20,}",
        check: Check::Random,
        examples: &[
            "deploy token: gldt-{{alnum:20}}",
            "--token glrt-{{alnum:20}}",
            "registration_token = GR1348941{{alnum:20}}",
        ],
        counter_examples: &["gldt-{{alnum:8}}"],
        ..D
    },
    Spec {
        id: "slack-token",
        description: "Slack bot, user, app-level, configuration and refresh tokens",
        keywords: &[
            "xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe-", "xoxe.", "xapp-",
        ],
        regex: r"(?:\bxox[abposre]-[0-9A-Za-z-]{10,250}|\bxoxe\.xox[bp]-\d-[A-Za-z0-9]{100,200}|\bxapp-\d-[A-Z0-9]+-\d+-[a-z0-9]{20,})",
        check: Check::Random,
        examples: &[
            "SLACK_BOT_TOKEN=xoxb-{{digits:12}}-{{digits:13}}-{{alnum:24}}",
            "xoxp-{{digits:12}}-{{digits:12}}-{{digits:13}}-{{hex:32}}",
            "SLACK_APP_TOKEN=xapp-1-A{{upper:10}}-{{digits:13}}-{{hex:64}}",
        ],
        counter_examples: &["xoxb-your-token-here", "xoxb-{{digits:3}}"],
        ..D
    },
    Spec {
        id: "slack-webhook",
        description: "Slack incoming webhook / workflow URL",
        keywords: &["hooks.slack.com"],
        regex: r"https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9+/_-]{20,})",
        group_name: Some("s"),
        check: Check::Random,
        examples: &[
            "SLACK_WEBHOOK=https://hooks.slack.com/services/T{{upper:8}}/B{{upper:8}}/{{alnum:24}}",
        ],
        counter_examples: &["https://hooks.slack.com/services/T000/B000/XXXX"],
        ..D
    },
    Spec {
        id: "stripe-key",
        description: "Stripe secret or restricted key (sk_live_, rk_live_, and test/prod)",
        keywords: &[
            "sk_live_", "rk_live_", "sk_test_", "rk_test_", "sk_prod_", "rk_prod_",
        ],
        regex: r"\b[rs]k_(?:live|test|prod)_[A-Za-z0-9]{20,247}",
        check: Check::Random,
        examples: &[
            "STRIPE_SECRET_KEY=sk_live_{{alnum:24}}",
            "Stripe.api_key = 'rk_live_{{alnum:99}}'",
            "stripe.setApiKey(\"sk_test_{{alnum:24}}\")",
        ],
        counter_examples: &["sk_live_xxxxxxxxxxxxxxxxxxxxxxxx", "pk_live_{{alnum:24}}"],
        ..D
    },
    Spec {
        id: "stripe-webhook-secret",
        description: "Stripe webhook signing secret (whsec_)",
        keywords: &["whsec_"],
        regex: r"\bwhsec_[A-Za-z0-9+/=]{32,}",
        check: Check::Random,
        examples: &["STRIPE_WEBHOOK_SECRET=whsec_{{alnum:32}}"],
        counter_examples: &["whsec_..."],
        ..D
    },
    Spec {
        id: "twilio-api-key",
        description: "Twilio API key SID (SK + 32 hex)",
        exact_keywords: &["SK"],
        regex: r"\bSK[0-9a-f]{32}\b",
        check: Check::Random,
        examples: &["TWILIO_API_KEY=SK{{hex:32}}"],
        counter_examples: &["SKU{{hex:32}}", "ASK{{hex:32}}"],
        ..D
    },
    Spec {
        id: "twilio-auth-token",
        description: "Twilio auth token or API secret, next to the word twilio",
        keywords: &["twilio"],
        regex: r#"(?i)twilio[a-z_.-]{0,20}(?:auth|token|secret)[a-z_.-]{0,20}["']?[ \t]*(?:=|:|=>)[ \t]*["']?(?P<s>[a-f0-9]{32})\b"#,
        group_name: Some("s"),
        check: Check::Random,
        examples: &["TWILIO_AUTH_TOKEN={{hex:32}}"],
        counter_examples: &["TWILIO_ACCOUNT_SID=AC{{hex:32}}"],
        ..D
    },
    Spec {
        id: "sendgrid-api-key",
        description: "SendGrid API key (SG.x.y)",
        exact_keywords: &["SG."],
        regex: r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
        check: Check::Random,
        examples: &["SENDGRID_API_KEY=SG.{{alnum:22}}.{{alnum:43}}"],
        counter_examples: &["SG.{{alnum:10}}.{{alnum:10}}"],
        ..D
    },
    Spec {
        id: "npm-token",
        description: "npm access token (npm_)",
        keywords: &["npm_"],
        regex: r"\bnpm_[A-Za-z0-9]{36}\b",
        check: Check::Random,
        examples: &[
            "//registry.npmjs.org/:_authToken=npm_{{alnum:36}}",
            "NPM_TOKEN=npm_{{alnum:36}}",
        ],
        counter_examples: &["npm_config_cache=/tmp/npm_cache_dir_for_tests_only_xx"],
        ..D
    },
    Spec {
        id: "npmrc-auth",
        description: "Registry credential in an .npmrc (_authToken, _auth, _password)",
        keywords: &["_authtoken", "_auth", "_password"],
        regex: r#"(?i)(?:^|[ \t:])_(?:authToken|auth|password)[ \t]*=[ \t]*["']?(?P<s>[^\s"'$]{8,})"#,
        group_name: Some("s"),
        check: Check::Random,
        examples: &[
            "//npm.pkg.github.com/:_authToken={{hex:8}}-{{hex:4}}-{{hex:4}}-{{hex:4}}-{{hex:12}}",
            "//registry.acme.dev/:_password={{b64:24}}",
        ],
        counter_examples: &["//registry.npmjs.org/:_authToken=${NPM_TOKEN}"],
        ..D
    },
    Spec {
        id: "pypi-token",
        description: "PyPI / TestPyPI upload token (pypi-Ag...)",
        keywords: &["pypi-ag"],
        regex: r"\bpypi-Ag[A-Za-z0-9_-]{50,}",
        check: Check::Random,
        examples: &[
            "password = pypi-AgEIcHlwaS5vcmc{{b64url:120}}",
            "TWINE_PASSWORD=pypi-AgENdGVzdC5weXBpLm9yZw{{b64url:90}}",
        ],
        counter_examples: &["pypi-AgEIcHlwaS5vcmc"],
        ..D
    },
    Spec {
        id: "docker-hub-token",
        description: "Docker Hub personal or organisation access token (dckr_pat_, dckr_oat_)",
        keywords: &["dckr_pat_", "dckr_oat_"],
        regex: r"\bdckr_(?:pat|oat)_[A-Za-z0-9_-]{27,}",
        check: Check::Random,
        examples: &["echo dckr_pat_{{alnum:27}} | docker login -u acme --password-stdin"],
        counter_examples: &["dckr_pat_{{alnum:8}}"],
        ..D
    },
    Spec {
        id: "docker-config-auth",
        description: "Registry credential in a Docker config.json (\"auth\": base64 of user:password)",
        keywords: &["\"auth\""],
        regex: r#""auth"[ \t]*:[ \t]*"(?P<s>[A-Za-z0-9+/=]{8,})""#,
        group_name: Some("s"),
        check: Check::BasicAuth,
        examples: &[r#"{"auths": {"ghcr.io": {"auth": "{{basic}}"}}}"#],
        counter_examples: &[r#"{"auth": "{{hex:40}}"}"#, r#"{"auth": "bearer"}"#],
        ..D
    },
    Spec {
        id: "anthropic-api-key",
        description: "Anthropic API or admin key (sk-ant-...)",
        keywords: &["sk-ant-"],
        regex: r"\bsk-ant-[a-z]{2,8}[0-9]{2}-[A-Za-z0-9_-]{32,}",
        check: Check::Random,
        examples: &[
            "ANTHROPIC_API_KEY=sk-ant-api03-{{b64url:93}}AA",
            r#"headers = {"x-api-key": "sk-ant-admin01-{{b64url:93}}AA"}"#,
        ],
        counter_examples: &["sk-ant-api03-...", "sk-ant-{{alnum:10}}"],
        ..D
    },
    Spec {
        id: "openai-api-key",
        description: "OpenAI API key (sk-proj-, sk-svcacct-, sk-admin-, legacy sk-...T3BlbkFJ...)",
        keywords: &["sk-proj-", "sk-svcacct-", "sk-admin-"],
        exact_keywords: &["T3BlbkFJ"],
        regex: r"\bsk-(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_-]{16,}T3BlbkFJ[A-Za-z0-9_-]{16,}|\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}",
        check: Check::Random,
        examples: &[
            "OPENAI_API_KEY=sk-proj-{{b64url:74}}T3BlbkFJ{{b64url:74}}",
            "openai.api_key = \"sk-{{alnum:20}}T3BlbkFJ{{alnum:20}}\"",
            "sk-svcacct-{{b64url:80}}",
        ],
        counter_examples: &["sk-proj-...", "sk-proj-{{alnum:10}}"],
        ..D
    },
    Spec {
        id: "openai-compatible-api-key",
        description: "sk- API key of an OpenAI-compatible vendor (DeepSeek, Moonshot, LiteLLM, ...)",
        keywords: &["sk-"],
        regex: r"\bsk-[A-Za-z0-9]{32,64}\b",
        check: Check::Random,
        examples: &["DEEPSEEK_API_KEY=sk-{{hex:32}}", "api_key: sk-{{alnum:48}}"],
        counter_examples: &[
            "task-{{alnum:40}}",
            "sk-learn-classifier-model-for-the-data-pipeline",
        ],
        ..D
    },
    Spec {
        id: "huggingface-token",
        description: "Hugging Face user or organisation token (hf_, api_org_)",
        keywords: &["hf_", "api_org_"],
        regex: r"\b(?:hf|api_org)_[A-Za-z0-9]{34}\b",
        entropy: Some(3.5),
        examples: &[
            "HF_TOKEN=hf_{{alpha:34}}",
            "huggingface-cli login --token hf_{{alnum:34}}",
        ],
        counter_examples: &["hf_hub_download_cache_dir_for_my_tests", "hf_{{alpha:10}}"],
        ..D
    },
    Spec {
        id: "groq-api-key",
        description: "Groq API key (gsk_)",
        keywords: &["gsk_"],
        regex: r"\bgsk_[A-Za-z0-9]{52}\b",
        check: Check::Random,
        examples: &["GROQ_API_KEY=gsk_{{alnum:52}}"],
        counter_examples: &["gsk_{{alnum:10}}"],
        ..D
    },
    Spec {
        id: "xai-api-key",
        description: "xAI API key (xai-)",
        keywords: &["xai-"],
        regex: r"\bxai-[A-Za-z0-9]{80}\b",
        check: Check::Random,
        examples: &["XAI_API_KEY=xai-{{alnum:80}}"],
        counter_examples: &["xai-{{alnum:20}}"],
        ..D
    },
    Spec {
        id: "perplexity-api-key",
        description: "Perplexity API key (pplx-)",
        keywords: &["pplx-"],
        regex: r"\bpplx-[A-Za-z0-9]{48}\b",
        check: Check::Random,
        examples: &["PPLX_API_KEY=pplx-{{alnum:48}}"],
        counter_examples: &["pplx-{{alnum:8}}"],
        ..D
    },
    Spec {
        id: "replicate-api-token",
        description: "Replicate API token (r8_)",
        keywords: &["r8_"],
        regex: r"\br8_[A-Za-z0-9]{37}\b",
        check: Check::Random,
        examples: &["REPLICATE_API_TOKEN=r8_{{alnum:37}}"],
        counter_examples: &["r8_{{alnum:8}}"],
        ..D
    },
    Spec {
        id: "langsmith-api-key",
        description: "LangSmith API key (lsv2_)",
        keywords: &["lsv2_"],
        regex: r"\blsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}\b",
        check: Check::Random,
        examples: &["LANGSMITH_API_KEY=lsv2_pt_{{hex:32}}_{{hex:10}}"],
        counter_examples: &["lsv2_pt_{{hex:8}}"],
        ..D
    },
    Spec {
        id: "shopify-token",
        description: "Shopify access token or shared secret (shpat_, shpca_, shppa_, shpss_)",
        keywords: &["shpat_", "shpca_", "shppa_", "shpss_"],
        regex: r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b",
        check: Check::Random,
        examples: &["SHOPIFY_ACCESS_TOKEN=shpat_{{hex:32}}"],
        counter_examples: &["shpat_{{hex:8}}"],
        ..D
    },
    Spec {
        id: "digitalocean-token",
        description: "DigitalOcean personal, OAuth or refresh token (dop_v1_, doo_v1_, dor_v1_)",
        keywords: &["dop_v1_", "doo_v1_", "dor_v1_"],
        regex: r"\bdo[opr]_v1_[a-f0-9]{64}\b",
        check: Check::Random,
        examples: &["DIGITALOCEAN_TOKEN=dop_v1_{{hex:64}}"],
        counter_examples: &["dop_v1_{{hex:10}}"],
        ..D
    },
    Spec {
        id: "databricks-token",
        description: "Databricks personal access token (dapi...)",
        keywords: &["dapi"],
        regex: r"\bdapi[a-f0-9]{32}(?:-[0-9])?\b",
        check: Check::Random,
        examples: &["DATABRICKS_TOKEN=dapi{{hex:32}}"],
        counter_examples: &["dapi_version = 2"],
        ..D
    },
    Spec {
        id: "atlassian-api-token",
        description: "Atlassian API token (ATATT3...)",
        keywords: &["atatt3"],
        regex: r"\bATATT3[A-Za-z0-9_=-]{180,}",
        check: Check::Random,
        examples: &["JIRA_API_TOKEN=ATATT3xFfGF0{{b64url:180}}={{HEX:8}}"],
        counter_examples: &["ATATT3{{alnum:20}}"],
        ..D
    },
    Spec {
        id: "linear-api-key",
        description: "Linear API key (lin_api_)",
        keywords: &["lin_api_"],
        regex: r"\blin_api_[A-Za-z0-9]{40}\b",
        check: Check::Random,
        examples: &["LINEAR_API_KEY=lin_api_{{alnum:40}}"],
        counter_examples: &["lin_api_{{alnum:10}}"],
        ..D
    },
    Spec {
        id: "vault-token",
        description: "HashiCorp Vault service or batch token (hvs., hvb.)",
        keywords: &["hvs.", "hvb."],
        regex: r"\bhv[sb]\.[A-Za-z0-9_-]{24,}",
        check: Check::Random,
        examples: &[
            "VAULT_TOKEN=hvs.{{alnum:24}}",
            "X-Vault-Token: hvb.{{b64url:140}}",
        ],
        counter_examples: &["hvs.{{alnum:8}}"],
        ..D
    },
    Spec {
        id: "terraform-cloud-token",
        description: "Terraform Cloud / Enterprise API token (....atlasv1....)",
        keywords: &["atlasv1"],
        regex: r"\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70}",
        check: Check::Random,
        examples: &["token = \"{{alnum:14}}.atlasv1.{{alnum:67}}\""],
        counter_examples: &["atlasv1 provider"],
        ..D
    },
    Spec {
        id: "new-relic-key",
        description: "New Relic user API key (NRAK-)",
        keywords: &["nrak-"],
        regex: r"\bNRAK-[A-Z0-9]{27}\b",
        check: Check::Random,
        examples: &["NEW_RELIC_API_KEY=NRAK-{{base32:27}}"],
        counter_examples: &["NRAK-{{base32:5}}"],
        ..D
    },
    Spec {
        id: "sentry-token",
        description: "Sentry organisation or user auth token (sntrys_, sntryu_)",
        keywords: &["sntrys_", "sntryu_"],
        regex: r"\bsntry[su]_[A-Za-z0-9+/=_]{60,}",
        check: Check::Random,
        examples: &["SENTRY_AUTH_TOKEN=sntrys_{{b64:120}}", "sntryu_{{hex:64}}"],
        counter_examples: &["sntrys_{{alnum:8}}"],
        ..D
    },
    Spec {
        id: "grafana-token",
        description: "Grafana service account or Cloud token (glsa_, glc_)",
        keywords: &["glsa_", "glc_"],
        regex: r"\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b|\bglc_[A-Za-z0-9+/]{32,}={0,2}",
        check: Check::Random,
        examples: &[
            "GRAFANA_TOKEN=glsa_{{alnum:32}}_{{hex:8}}",
            "glc_{{b64:80}}==",
        ],
        counter_examples: &["glsa_{{alnum:8}}"],
        ..D
    },
    Spec {
        id: "age-secret-key",
        description: "age encryption secret key",
        keywords: &["age-secret-key-1"],
        regex: r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        entropy: Some(3.5),
        examples: &["# created: 2024-01-01\nAGE-SECRET-KEY-1{{bech32:58}}"],
        counter_examples: &["AGE-SECRET-KEY-1..."],
        ..D
    },
    Spec {
        id: "square-token",
        description: "Square access token or application secret (sq0atp-, sq0csp-, EAAA...)",
        keywords: &["sq0atp-", "sq0csp-"],
        regex: r"\bsq0(?:atp|csp)-[0-9A-Za-z_-]{22,43}",
        check: Check::Random,
        examples: &["SQUARE_TOKEN=sq0atp-{{alnum:22}}", "sq0csp-{{alnum:43}}"],
        counter_examples: &["sq0atp-{{alnum:5}}"],
        ..D
    },
    Spec {
        id: "discord-webhook",
        description: "Discord webhook URL",
        keywords: &["discord.com/api/webhooks", "discordapp.com/api/webhooks"],
        regex: r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/(?P<s>[A-Za-z0-9_-]{60,})",
        group_name: Some("s"),
        check: Check::Random,
        examples: &["https://discord.com/api/webhooks/123456789012345678/{{b64url:68}}"],
        counter_examples: &["https://discord.com/api/webhooks/{{digits:18}}/TOKEN"],
        ..D
    },
    Spec {
        id: "telegram-bot-token",
        description: "Telegram bot token",
        keywords: &[":aa"],
        regex: r"\b[0-9]{8,10}:AA[A-Za-z0-9_-]{33}",
        check: Check::Random,
        examples: &["TELEGRAM_BOT_TOKEN={{digits:10}}:AA{{alnum:33}}"],
        counter_examples: &["12:AAB"],
        ..D
    },
    Spec {
        id: "doppler-token",
        description: "Doppler token (dp.pt., dp.st., dp.sa., dp.ct.)",
        keywords: &[
            "dp.pt.",
            "dp.st.",
            "dp.sa.",
            "dp.ct.",
            "dp.scim.",
            "dp.audit.",
        ],
        regex: r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.(?:[a-z0-9_-]{1,40}\.)?[A-Za-z0-9]{40,44}\b",
        check: Check::Random,
        examples: &["DOPPLER_TOKEN=dp.pt.{{alnum:43}}", "dp.st.dev.{{alnum:43}}"],
        counter_examples: &["dp.pt.{{alnum:8}}"],
        ..D
    },
    Spec {
        id: "pulumi-token",
        description: "Pulumi access token (pul-)",
        keywords: &["pul-"],
        regex: r"\bpul-[a-f0-9]{40}\b",
        check: Check::Random,
        examples: &["PULUMI_ACCESS_TOKEN=pul-{{hex:40}}"],
        counter_examples: &["pul-{{hex:8}}"],
        ..D
    },
    Spec {
        id: "postman-api-key",
        description: "Postman API key (PMAK-)",
        keywords: &["pmak-"],
        regex: r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b",
        check: Check::Random,
        examples: &["POSTMAN_API_KEY=PMAK-{{hex:24}}-{{hex:34}}"],
        counter_examples: &["PMAK-{{hex:4}}"],
        ..D
    },
    Spec {
        id: "rubygems-api-key",
        description: "RubyGems API key (rubygems_)",
        keywords: &["rubygems_"],
        regex: r"\brubygems_[a-f0-9]{48}\b",
        check: Check::Random,
        examples: &["GEM_HOST_API_KEY=rubygems_{{hex:48}}"],
        counter_examples: &["rubygems_version: 3.4"],
        ..D
    },
    Spec {
        id: "notion-token",
        description: "Notion integration token (secret_, ntn_)",
        keywords: &["secret_", "ntn_"],
        regex: r"\b(?:secret_[A-Za-z0-9]{43}|ntn_[0-9]{11}[A-Za-z0-9]{35})\b",
        check: Check::Random,
        examples: &[
            "NOTION_TOKEN=secret_{{alnum:43}}",
            "ntn_{{digits:11}}{{alnum:35}}",
        ],
        counter_examples: &["secret_key_base_for_the_rails_application_x"],
        ..D
    },
    Spec {
        id: "supabase-token",
        description: "Supabase personal access token (sbp_)",
        keywords: &["sbp_"],
        regex: r"\bsbp_[a-f0-9]{40}\b",
        check: Check::Random,
        examples: &["SUPABASE_ACCESS_TOKEN=sbp_{{hex:40}}"],
        counter_examples: &["sbp_{{hex:8}}"],
        ..D
    },
    Spec {
        id: "planetscale-token",
        description: "PlanetScale service token, password or OAuth token (pscale_)",
        keywords: &["pscale_"],
        regex: r"\bpscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64}",
        check: Check::Random,
        examples: &["DATABASE_PASSWORD=pscale_pw_{{alnum:43}}"],
        counter_examples: &["pscale_pw_{{alnum:5}}"],
        ..D
    },
    Spec {
        id: "flyio-token",
        description: "Fly.io access token (fo1_, FlyV1 fm2_)",
        keywords: &["fo1_", "fm2_"],
        regex: r"\bfo1_[A-Za-z0-9_-]{43}|\bfm2_[A-Za-z0-9+/=_-]{100,}",
        check: Check::Random,
        examples: &["FLY_API_TOKEN=fo1_{{b64url:43}}", "FlyV1 fm2_{{b64:160}}"],
        counter_examples: &["fo1_{{alnum:8}}"],
        ..D
    },
    Spec {
        id: "buildkite-token",
        description: "Buildkite agent or API token (bkua_, bkat_)",
        keywords: &["bkua_", "bkat_"],
        regex: r"\bbk(?:ua|at)_[a-f0-9]{40}\b",
        check: Check::Random,
        examples: &["BUILDKITE_API_TOKEN=bkua_{{hex:40}}"],
        counter_examples: &["bkua_{{hex:8}}"],
        ..D
    },
    Spec {
        id: "jwt",
        description: "JSON Web Token (signed)",
        keywords: &["eyj"],
        regex: r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}",
        check: Check::Jwt,
        examples: &[
            "Authorization: Bearer {{jwt}}",
            "id_token={{jwt}}&state=xyz",
        ],
        counter_examples: &["eyJ{{alnum:20}}.eyJ{{alnum:20}}.{{alnum:20}}"],
        ..D
    },
    Spec {
        id: "connection-string-password",
        description: "Password in a database or broker URL (postgres, mysql, mongodb, redis, amqp, ...)",
        keywords: &["://"],
        regex: r#"(?i)\b(?:postgres(?:ql)?|mysql|mysqlx|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|oracle|cockroachdb|clickhouse|couchdb|neo4j(?:\+s)?|nats|kafka|memcached|ldaps?|smtps?|ftps?|sftp)://(?P<user>[^:/\s@"'`]*):(?P<s>[^@/\s"'`]+)@[^\s/@"'`]"#,
        group_name: Some("s"),
        check: Check::UrlPassword,
        examples: &[
            "DATABASE_URL=postgres://app:{{alnum:20}}@db.internal:5432/app",
            "mongodb+srv://admin:{{alnum:16}}@cluster0.abcde.mongodb.net/test?retryWrites=true",
            "REDIS_URL=rediss://default:{{alnum:32}}@cache.acme.io:6380",
            "amqp://svc:{{alnum:12}}@rabbit:5672/vhost",
            "mysql://root:{{alnum:14}}@127.0.0.1:3306/shop",
        ],
        counter_examples: &[
            "postgres://postgres:postgres@localhost:5432/test",
            "postgres://user:password@localhost/db",
            "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app",
            "redis://localhost:6379/0",
            "amqp://guest:guest@localhost:5672/",
        ],
        ..D
    },
    Spec {
        id: "basic-auth-url",
        description: "Credentials in an http(s)/git URL (https://user:password@host)",
        keywords: &["://"],
        regex: r#"(?i)\b(?:https?|git|ssh|svn(?:\+ssh)?|wss?)://(?P<user>[^:/\s@"'`]*):(?P<s>[^@/\s"'`]+)@[^\s/@"'`]"#,
        group_name: Some("s"),
        check: Check::UrlPassword,
        examples: &[
            "pip install --index-url https://deploy:{{alnum:20}}@pypi.acme.dev/simple pkg",
            "remote: https://ci-bot:{{alnum:24}}@git.acme.dev/app.git",
        ],
        counter_examples: &[
            "https://user:pass@example.com/",
            "http://localhost:8080/health",
            "https://{user}:{password}@host/",
        ],
        ..D
    },
    Spec {
        id: "bearer-token",
        description: "Bearer token in an Authorization header or curl command",
        keywords: &["bearer"],
        regex: r"(?i)\bbearer[ \t]+(?P<s>[A-Za-z0-9._~+/-]{20,}=*)",
        group_name: Some("s"),
        check: Check::Random,
        examples: &[
            "curl -H 'Authorization: Bearer {{alnum:40}}' https://api.acme.dev/v1/me",
            "> Authorization: bearer {{hex:48}}",
        ],
        counter_examples: &[
            "Authorization: Bearer YOUR_ACCESS_TOKEN_HERE",
            "Authorization: Bearer $TOKEN",
            "the bearer token is passed in the header",
        ],
        ..D
    },
    Spec {
        id: "basic-auth-header",
        description: "Basic credentials in an Authorization header",
        keywords: &["basic"],
        regex: r#"(?i)\bauthorization["'\]]*[ \t]*[:=][ \t]*["']?basic[ \t]+(?P<s>[A-Za-z0-9+/]{6,}={0,2})"#,
        group_name: Some("s"),
        check: Check::BasicAuth,
        examples: &[
            "Authorization: Basic {{basic}}",
            r#"headers["Authorization"] = "Basic {{basic}}""#,
        ],
        counter_examples: &[
            "Authorization: Basic <credentials>",
            "Authorization: Basic {{hex:32}}",
        ],
        ..D
    },
    Spec {
        id: "cli-user-password",
        description: "user:password given to curl/wget style -u/--user options",
        keywords: &["-u ", "--user", "-u'", "-u\""],
        regex: r#"(?:^|[ \t])(?:-u|--user|--proxy-user)(?:[ \t]+|=)["']?(?P<user>[^:\s"'$]+):(?P<s>[^\s"'@]+)"#,
        group_name: Some("s"),
        check: Check::UrlPassword,
        examples: &["curl -u admin:{{alnum:18}} https://ci.acme.dev/api/json"],
        counter_examples: &[
            "curl -u admin:$PASSWORD https://ci",
            "curl -u user:password https://example.com",
        ],
        ..D
    },
    Spec {
        id: "generic-secret-xml",
        description: "Secret value between XML tags named like a secret",
        keywords: &[
            "password>",
            "passwd>",
            "secret>",
            "token>",
            "apikey>",
            "api_key>",
            "api-key>",
        ],
        regex: r"(?i)<(?P<key>[a-z0-9_.:-]*(?:password|passwd|secret|token|api[_-]?key|apikey))>(?P<s>[^<\s]{8,})</",
        group_name: Some("s"),
        check: Check::GenericQuotedValue,
        generic: true,
        examples: &["<settings><password>{{alnum:14}}{{digits:2}}</password></settings>"],
        counter_examples: &[
            "<password>${db.password}</password>",
            "<token>changeme</token>",
        ],
        ..D
    },
    Spec {
        id: "generic-cli-secret",
        description: "Secret passed as a command-line flag (--password, --token, --api-key, ...)",
        keywords: &["password", "passwd", "secret", "token", "api-key", "apikey"],
        regex: r#"(?i)(?:^|[ \t])--?(?P<key>[a-z0-9-]*(?:password|passwd|secret|token|api-key|apikey))(?:=|[ \t]+)(?P<q>["']?)(?P<s>[^\s"']{8,})"#,
        group_name: Some("s"),
        check: Check::GenericValue,
        generic: true,
        examples: &[
            "mysql --password={{alnum:14}}{{digits:2}} -h db",
            "vault login --token '{{alnum:16}}{{digits:2}}'",
        ],
        counter_examples: &[
            "--password-file /run/secrets/db",
            "--token $GITHUB_TOKEN",
            "--api-key=<key>",
        ],
        ..D
    },
    Spec {
        id: "generic-secret",
        description: "Assignment of a high-entropy value to a name like password, secret, token or api_key",
        keywords: &[
            "secret",
            "token",
            "pass",
            "pwd",
            "api_key",
            "api-key",
            "apikey",
            "api.key",
            "access_key",
            "access-key",
            "accesskey",
            "auth_key",
            "auth-key",
            "authkey",
            "private_key",
            "private-key",
            "privatekey",
            "credential",
            "signing_key",
            "signing-key",
            "signingkey",
            "encryption_key",
            "encryption-key",
            "encryptionkey",
            "master_key",
            "master-key",
            "masterkey",
        ],
        regex: concat!(
            // No class before the name: the search starts at a literal, which keeps it linear.
            r#"(?i)(?P<key>(?:secret|token|passwd|password|passphrase|pwd|\bpass|[_.-]pass|api[_.-]?key|apikey|access[_.-]?key|auth[_.-]?key|private[_.-]?key|credentials?|signing[_.-]?key|encryption[_.-]?key|master[_.-]?key)(?:[_.-]?(?:key|value|str|string))?[0-9]?)"#,
            assign!(),
            // A literal ends at a quote, a separator or the line end; `f(x)`, `a[i]`, `{{x}}`,
            // `<x>` are expressions or templates, not secrets.
            r#"(?P<q>["'`]?)(?P<s>[^\s"'`,;(){}\[\]<>]{8,})(?:[ \t\r"'`,;]|$)"#
        ),
        group_name: Some("s"),
        check: Check::GenericValue,
        generic: true,
        examples: &[
            "DB_PASSWORD={{alnum:16}}{{digits:2}}",
            r#"api_key = "{{alnum:24}}{{digits:2}}""#,
            r#"{"client_secret": "{{alnum:30}}{{digits:2}}", "client_id": "app"}"#,
            "  password: '{{alnum:16}}{{digits:2}}'",
            "const API_TOKEN = `{{alnum:20}}{{digits:2}}`;",
            "export SECRET_KEY={{alnum:40}}{{digits:2}}",
            "  token: {{hex:40}}",
            "config.apiKey = \"{{b64:32}}{{digits:2}}\"",
        ],
        counter_examples: &[
            "password = \"changeme\"",
            "password: ${DB_PASSWORD}",
            "token = get_token()",
            "api_key = os.environ[\"API_KEY\"]",
            "secret: <your-secret>",
            "token_type = \"bearer_token_example\"",
            "password = self.password_field",
            "api_key: your-api-key-here",
            "max_tokens = 4096",
            "password_hash = bcrypt(password)",
            "token: xxxxxxxxxxxxxxxxxxxx",
            "TOKEN={{TOKEN}}",
            "secret = \"test-secret-value-123\"",
            "passwordMinLength: 12",
        ],
        ..D
    },
];
