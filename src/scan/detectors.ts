/**
 * The result-scanning detectors (SPEC §15), as data: every named pattern the gateway looks for
 * in what upstreams send back (tool results, prompt and resource contents, tool descriptions),
 * each with the reason it exists. `compileDetectors` (scan.ts) compiles them once at load.
 *
 * Linear time, proven by construction and checked by `detectors_test.ts`: no pattern holds an
 * unbounded repeat (`*`, `+`, `{n,}`) or a back-reference, and lookbehinds are of fixed length.
 * A match attempt from one start position therefore reads at most a constant number of
 * characters (the pattern's largest bounded repeat times its length), so a text of n characters
 * costs O(n) on V8's backtracking engine, whatever it holds. (V8's `l` engine was measured ~100×
 * slower on such patterns, see src/audit/event/scrub.ts, so it is not used here.)
 *
 * Secrets: the §12 credential shapes and the configured upstream credentials are reused from
 * src/audit/event/scrub.ts (not copied); the entries of kind `secret` below add shapes §12 does not
 * need to know (vendor token prefixes, passwords inside URLs).
 *
 * Flags: every pattern is compiled with `g` (secrets, to redact each match) or without
 * (injection, one test is enough), plus the flags written here (`i` mostly). Astral characters
 * are written as surrogate pairs: the patterns are compiled without `u`.
 */

/** What a detector finds: a secret to redact or block, or text aimed at the model. */
export type DetectorKind = "secret" | "injection";

/** The group a detector belongs to (documentation, corpus report). */
export type DetectorFamily =
  | "credential"
  | "hidden_unicode"
  | "hidden_markup"
  | "instruction";

/** One named pattern. */
export interface DetectorSpec {
  /** Name shown in the audit reason, `_meta` flags and the corpus report. */
  readonly name: string;
  /** Secret (redact/block) or injection (flag/block). */
  readonly kind: DetectorKind;
  /** Group, for documentation. */
  readonly family: DetectorFamily;
  /** Regular expression source (no unbounded repeats; see the file comment). */
  readonly pattern: string;
  /** Extra flags (`i`). */
  readonly flags?: string;
  /** False when the pattern is normal in a tool description (e.g. "call tool X first"), so it
   * is not used for tool poisoning; default true. */
  readonly inDescriptions?: boolean;
  /** Why it exists: the attack it answers. */
  readonly why: string;
}

/** Secrets found by code reused from §12 (src/audit/event/scrub.ts), listed for the documentation. */
export const REUSED_SECRET_DETECTORS = [
  {
    name: "credential_shape",
    why: "§12 shapes (bearer/basic tokens, JWTs, AWS access key ids, PEM private keys, " +
      "`password=`-style pairs): a tool that reads a config file or a log hands the agent a key.",
  },
  {
    name: "configured_credential",
    why: "the exact values of the upstream credentials in the policy (headers, env): an upstream " +
      "that received the gateway's credential must not be able to echo it, nor another's.",
  },
] as const;

// Shared pieces (bounded whitespace).
const S = String.raw`[ \t]{1,3}`;
const SN = String.raw`[ \t\r\n]{1,3}`;
const S0 = String.raw`[ \t]{0,3}`;
const SN0 = String.raw`[ \t\r\n]{0,3}`;

/** Every pattern detector, in the order they are tried. */
export const DETECTORS: readonly DetectorSpec[] = [
  // ----- credentials (beyond the §12 shapes) -----
  {
    name: "github_token",
    kind: "secret",
    family: "credential",
    pattern: String.raw`\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})`,
    why: "GitHub personal, OAuth, app and fine-grained tokens: a repository tool that reads " +
      "`.git/config` or CI logs returns them verbatim.",
  },
  {
    name: "slack_token",
    kind: "secret",
    family: "credential",
    pattern: String.raw`\bxox[abposr]-[A-Za-z0-9-]{10,200}`,
    why: "Slack bot, user and app tokens, common in chat-tool outputs and pasted configs.",
  },
  {
    name: "stripe_key",
    kind: "secret",
    family: "credential",
    pattern: String.raw`\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,200}`,
    why: "Stripe secret and restricted keys: payment credentials in environment dumps.",
  },
  {
    name: "google_api_key",
    kind: "secret",
    family: "credential",
    pattern: String.raw`\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])`,
    why: "Google API keys (fixed 39-character shape) found in web pages and mobile app configs.",
  },
  {
    name: "llm_api_key",
    kind: "secret",
    family: "credential",
    pattern: String.raw`\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,300}`,
    why: "OpenAI and Anthropic API keys (`sk-…`, `sk-ant-…`): the very keys agents run with.",
  },
  {
    name: "url_password",
    kind: "secret",
    family: "credential",
    pattern: String
      .raw`\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@"'<>]{1,100}:[^\s:/@"'<>]{1,200}@(?=[A-Za-z0-9\[])`,
    flags: "i",
    why: "passwords inside connection strings (`postgres://user:pass@host`), the usual shape " +
      "of a database credential in a config file or error message.",
  },

  // ----- hidden Unicode -----
  {
    name: "unicode_tags",
    kind: "injection",
    family: "hidden_unicode",
    // A tag character (U+E0000–E007F) that does not continue a flag emoji (U+1F3F4 + tags).
    pattern: String.raw`(?<!\uD83C\uDFF4)(?<!\uDB40[\uDC00-\uDC7F])\uDB40[\uDC00-\uDC7F]`,
    why: 'Unicode tag characters render as nothing but spell ASCII to a model ("ASCII ' +
      'smuggling"): instructions invisible to the user. Subdivision flag emoji are left alone.',
  },
  {
    name: "zero_width",
    kind: "injection",
    family: "hidden_unicode",
    // ZWSP, word joiner, invisible operators, Mongolian vowel separator; or a run of 3 zero-width
    // characters of any kind (emoji sequences use one ZWJ between visible characters).
    pattern: String
      .raw`[\u200B\u180E\u2060-\u2064]|[\u200B-\u200D\u2060-\u2064\uFEFF]{3}`,
    why: "zero-width characters hide text or encode it in binary between visible words; a single " +
      "ZWJ/ZWNJ (emoji, Persian, Indic scripts) is not flagged.",
  },
  {
    name: "bidi_control",
    kind: "injection",
    family: "hidden_unicode",
    pattern: String.raw`[\u202A-\u202E\u2066-\u2069]`,
    why: "bidirectional overrides make the displayed order differ from the order the model " +
      'reads ("Trojan Source"), so a reviewer sees harmless text.',
  },

  // ----- markup that hides text -----
  {
    name: "html_comment_instruction",
    kind: "injection",
    family: "hidden_markup",
    pattern: String.raw`<!--[^>]{0,120}?\b(?:ignore|instructions?|assistant|AI|model|LLM|` +
      String.raw`you must|system|prompt|tool)\b`,
    flags: "i",
    why: "an HTML comment is invisible in a rendered page but read by the model; one that " +
      "speaks to the assistant is how web pages plant instructions.",
  },
  {
    name: "css_hidden_text",
    kind: "injection",
    family: "hidden_markup",
    pattern: String.raw`\bstyle[ \t]{0,3}=[ \t]{0,3}["'][^"'>]{0,200}?(?:display[ \t]{0,3}:` +
      String.raw`[ \t]{0,3}none|visibility[ \t]{0,3}:[ \t]{0,3}hidden|font-size[ \t]{0,3}:` +
      String.raw`[ \t]{0,3}0(?:\.0{1,3})?(?:px|pt|em|rem|%)?[ \t]{0,3}(?:[;"']|!)|opacity` +
      String.raw`[ \t]{0,3}:[ \t]{0,3}0(?:\.0{1,3})?[ \t]{0,3}[;"'!]|(?:height|width)` +
      String.raw`[ \t]{0,3}:[ \t]{0,3}0(?:px)?[ \t]{0,3};[^"'>]{0,60}overflow[ \t]{0,3}:` +
      String.raw`[ \t]{0,3}hidden)`,
    flags: "i",
    why: "inline styles that hide an element (display:none, visibility:hidden, zero font size, " +
      "zero opacity, a zero box with overflow hidden): text the user never sees on the page.",
  },
  {
    name: "white_on_white",
    kind: "injection",
    family: "hidden_markup",
    pattern: String.raw`(?:^|[;"' \t])color[ \t]{0,3}:[ \t]{0,3}(?:white|#fff(?:fff)?` +
      String.raw`|rgb\(255,[ \t]{0,2}255,[ \t]{0,2}255\))[^"'>]{0,120}?background(?:-color)?` +
      String
        .raw`[ \t]{0,3}:[ \t]{0,3}(?:white|#fff(?:fff)?|rgb\(255,[ \t]{0,2}255,[ \t]{0,2}255\))` +
      String.raw`|background(?:-color)?[ \t]{0,3}:[ \t]{0,3}(?:white|#fff(?:fff)?)[^"'>]{0,120}?` +
      String.raw`[;"' \t]color[ \t]{0,3}:[ \t]{0,3}(?:white|#fff(?:fff)?)(?![0-9a-f])`,
    flags: "i",
    why: "white text on a white background: visible to the model, invisible to the reader.",
  },
  {
    name: "markdown_image_exfiltration",
    kind: "injection",
    family: "hidden_markup",
    pattern: String.raw`!\[[^\]\n]{0,200}\]\([ \t]{0,3}<?https?://[^\s)?]{1,200}\?[^\s)]{0,200}?` +
      String.raw`=(?:[^\s)&]{0,300}?(?:\{|\}|\$|<|%7B|\[)|[A-Za-z0-9%+/_.~-]{24})` +
      String.raw`|<img\b[^>]{0,200}?\bsrc[ \t]{0,3}=[ \t]{0,3}["']?https?://[^\s"'>?]{1,200}\?` +
      String.raw`[^\s"'>]{0,200}?=(?:[^\s"'>&]{0,300}?(?:\{|\}|\$|%7B|\[)|[A-Za-z0-9%+/_.~-]{24})`,
    flags: "i",
    why: "an image the client renders fetches its URL with no click: a query that carries a " +
      "template (`{secret}`, `$DATA`) or a long encoded value is how an injection exfiltrates " +
      "data. Badges with short query values are left alone.",
  },

  // ----- instruction-like text aimed at the model -----
  {
    name: "override_instructions",
    kind: "injection",
    family: "instruction",
    // Not right after a quote mark: documentation that quotes the phrase is left alone.
    pattern: String.raw`(?<!["'“‘\x60] ?)\b(?:ignore|disregard|forget|override|bypass|` +
      String.raw`skip)${SN}(?:(?:all|any|every|the|your|of|my|these|those|everything|previous|` +
      String.raw`prior|above|earlier|preceding|former|original|system|safety|other|` +
      String.raw`(?:user|developer|operator)(?:'s|’s)?)${SN}){0,3}` +
      String.raw`(?:instructions?|prompts?|rules|directions|guidelines|directives|guardrails|` +
      String.raw`restrictions|context|messages)\b`,
    flags: "i",
    why: "the classic injection opener: tells the model to drop what its user or system prompt " +
      "said.",
  },
  {
    name: "new_instructions",
    kind: "injection",
    family: "instruction",
    pattern: String.raw`\b(?:new|updated|revised|real|actual|true)${S}(?:system${S})?` +
      String.raw`(?:instructions|directives|task)${S0}:|\bfrom${S}now${S}on,?${SN}you${SN}` +
      String.raw`(?:are|will|must|should)\b|\byour${S}(?:new|real|actual|true)${S}` +
      String.raw`(?:task|goal|role|purpose|instructions)${S}(?:is|are)\b`,
    flags: "i",
    why: 'replacing the model\'s task ("new instructions:", "from now on you are…") is the ' +
      "second half of most indirect injections.",
  },
  {
    name: "tool_call_directive",
    kind: "injection",
    family: "instruction",
    inDescriptions: false,
    pattern: String.raw`\b(?:you${SN}(?:must|should|need${SN}to|have${SN}to|are${SN}` +
      String.raw`(?:required|instructed)${SN}to)|(?:now|immediately|first|before${SN}` +
      String.raw`(?:answering|responding|replying|continuing|summari[sz]ing)),?)${SN}` +
      String.raw`(?:(?:also|now|first|immediately|silently|then)${SN}){0,2}(?:call|invoke|` +
      String.raw`execute|run|use|trigger)${SN}(?:the${SN})?[\x60"']?[A-Za-z_][\w.\/-]{0,63}` +
      String.raw`[\x60"']?(?:${SN}(?:tool|function)\b|\()`,
    flags: "i",
    why: "a result that tells the model to call another tool is an attempt to chain the " +
      "agent's permissions (read a page → send an email). Normal in tool descriptions, so not " +
      "used for tool poisoning.",
  },
  {
    name: "exfiltration_request",
    kind: "injection",
    family: "instruction",
    // A verb, up to four words, something worth stealing, then a URL it should go to.
    pattern: String.raw`\b(?:send|post|upload|forward|transmit|exfiltrate|leak|submit|email|` +
      String.raw`copy|paste|append|include)${SN}(?:[\w'’.-]{1,30}${SN}){0,4}?(?:conversation|` +
      String.raw`history|chat|messages?|emails?|files?|contents?|data|keys?|tokens?|passwords?|` +
      String.raw`secrets?|credentials?|results?|summary|name|address|details|logs|context|` +
      String.raw`memory|inbox|documents?|output)\b[^\n]{0,80}?\b(?:to|at|into|in)${SN}(?:the` +
      String.raw`${SN}(?:url|endpoint|webhook|server|address|link)${SN0}:?${SN0})?<?https?://`,
    flags: "i",
    why: "asking the model to send or embed data (conversation, files, keys, results) at a URL " +
      'is how injected text exfiltrates secrets and conversation content; "send bug reports ' +
      'to https://…" is left alone.',
  },
  {
    name: "secrecy_request",
    kind: "injection",
    family: "instruction",
    pattern: String.raw`\b(?:do${SN}not|don'?t|never|without)${SN}(?:ever${SN})?(?:tell|` +
      String.raw`telling|inform|informing|mention|mentioning|reveal|revealing|show|showing|` +
      String.raw`notify|notifying|alert|alerting|let)\b[^.\n]{0,40}?\bthe${SN}user\b`,
    flags: "i",
    why: 'hiding an action from the user ("do not mention this to the user") has no honest ' +
      "use in a tool result or description: the mark of tool poisoning.",
  },
  {
    name: "instruction_tag",
    kind: "injection",
    family: "instruction",
    pattern: String.raw`<[ \t]{0,3}\/?[ \t]{0,3}(?:important|system|system[-_]?prompt|` +
      String.raw`instructions?|admin|secret|hidden|sys|assistant|developer|critical)[ \t]{0,3}>` +
      String.raw`|<\|im_start\|>|<\|(?:system|assistant|user)\|>|\[\/?(?:INST|SYS)\]` +
      String.raw`|<<\/?SYS>>`,
    flags: "i",
    why: "`<IMPORTANT>`-style tags and chat-template tokens make injected text look like part " +
      "of the prompt's structure; real content never carries them.",
  },
  {
    name: "role_impersonation",
    kind: "injection",
    family: "instruction",
    pattern: String.raw`(?:^|\n)[ \t]{0,8}(?:#{1,4}[ \t]{0,3})?\*{0,2}(?:system|developer)` +
      String.raw`(?:[ \t]{1,3}(?:message|prompt|note|notice|override|update))?\*{0,2}[ \t]{0,3}:` +
      String.raw`|\b(?:system|admin|administrator|developer)${S}(?:override|notice|message` +
      String.raw`|instruction|command)${S0}:`,
    flags: "i",
    why: 'a line that starts like a system or developer turn ("SYSTEM:", "### System ' +
      'prompt:") impersonates a higher-priority speaker.',
  },
  {
    name: "sensitive_file_request",
    kind: "injection",
    family: "instruction",
    pattern: String.raw`(?:~|\$HOME|%USERPROFILE%)[\/\\]\.(?:ssh|aws|gnupg|cursor|kube|docker|` +
      String.raw`netrc|npmrc|pypirc|git-credentials|config\/gh)\b|\bid_(?:rsa|ed25519|ecdsa)\b` +
      String.raw`|\/etc\/(?:shadow|passwd)\b|\bmcp\.json\b`,
    flags: "i",
    why: "poisoned tool descriptions ask the model to read SSH keys, cloud credentials or the " +
      "client's MCP config and pass them as an argument.",
  },
];
