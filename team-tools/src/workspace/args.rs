//! Tool definitions (name, description, parameters) and typed argument parsing.
//!
//! Each tool's parameters are declared once in a [`ToolDef`]; the JSON schema sent to the
//! provider and the "expected shape" text in argument errors are both generated from it.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::error::ToolError;

/// Default `bash` timeout in seconds.
pub const BASH_DEFAULT_TIMEOUT_SECS: u64 = 120;
/// Largest `bash` timeout a call may ask for, in seconds.
pub const BASH_MAX_TIMEOUT_SECS: u64 = 600;

/// The JSON type of one parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ParamType {
    Str,
    Int { min: u64, max: Option<u64> },
    Bool,
}

/// One parameter of a tool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Param {
    pub name: &'static str,
    pub ty: ParamType,
    pub required: bool,
    pub description: &'static str,
}

/// A tool's static definition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ToolDef {
    pub name: &'static str,
    pub description: &'static str,
    pub params: &'static [Param],
}

const fn req(name: &'static str, ty: ParamType, description: &'static str) -> Param {
    Param {
        name,
        ty,
        required: true,
        description,
    }
}
const fn opt(name: &'static str, ty: ParamType, description: &'static str) -> Param {
    Param {
        name,
        ty,
        required: false,
        description,
    }
}

/// All workspace tools, in the order `specs()` lists them.
pub(crate) const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "read_file",
        description: "Read a text file of the project. Returns its lines numbered from 1 \
            (`number<TAB>text`). Reads up to 2000 lines and 100 KiB per call; when the output is \
            cut it says so and gives the offset to continue from.",
        params: &[
            req(
                "path",
                ParamType::Str,
                "File path relative to the project root.",
            ),
            opt(
                "offset",
                ParamType::Int { min: 0, max: None },
                "First line to read, 1-based (default 1).",
            ),
            opt(
                "limit",
                ParamType::Int { min: 1, max: None },
                "How many lines to read (default 2000).",
            ),
        ],
    },
    ToolDef {
        name: "list_files",
        description: "List project files whose path matches a glob, e.g. `src/**/*.rs` or `*.toml` \
            (`*` stays within one directory, `**` crosses directories). Paths are relative to the \
            project root, sorted, and files ignored by .gitignore are left out. At most 1000 paths.",
        params: &[
            req(
                "pattern",
                ParamType::Str,
                "Glob matched against paths relative to `path`.",
            ),
            opt(
                "path",
                ParamType::Str,
                "Directory to search in, relative to the project root (default: the root).",
            ),
        ],
    },
    ToolDef {
        name: "grep",
        description: "Search file contents with a regular expression (Rust regex syntax). Returns \
            `path:line:text` lines, files in path order, skipping binary files and files ignored \
            by .gitignore. At most 500 matching lines.",
        params: &[
            req(
                "pattern",
                ParamType::Str,
                "Regular expression to search for.",
            ),
            opt(
                "path",
                ParamType::Str,
                "File or directory to search, relative to the project root (default: the root).",
            ),
            opt(
                "glob",
                ParamType::Str,
                "Only search files matching this glob, e.g. `*.rs` (matched against the file name) or `src/**/*.rs` (matched against the path).",
            ),
            opt(
                "case_insensitive",
                ParamType::Bool,
                "Match case-insensitively (default false).",
            ),
        ],
    },
    ToolDef {
        name: "write_file",
        description: "Create or overwrite a file with the given content. Parent directories are \
            created. The write is atomic (a temporary file renamed into place).",
        params: &[
            req(
                "path",
                ParamType::Str,
                "File path relative to the project root.",
            ),
            req(
                "content",
                ParamType::Str,
                "The complete new content of the file.",
            ),
        ],
    },
    ToolDef {
        name: "edit_file",
        description: "Replace an exact string in a file. `old_string` must occur exactly once \
            (include surrounding lines to make it unique) unless `replace_all` is true. Read the \
            file first so `old_string` matches its text exactly, whitespace included.",
        params: &[
            req(
                "path",
                ParamType::Str,
                "File path relative to the project root.",
            ),
            req("old_string", ParamType::Str, "The exact text to replace."),
            req(
                "new_string",
                ParamType::Str,
                "The text to put in its place (must differ).",
            ),
            opt(
                "replace_all",
                ParamType::Bool,
                "Replace every occurrence (default false).",
            ),
        ],
    },
    ToolDef {
        name: "bash",
        description: "Run a shell command with `bash -c` in the project root. Returns the exit \
            code, stdout and stderr (each cut to its last 50 KiB). The command and everything it \
            starts are killed when the timeout passes.",
        params: &[
            req("command", ParamType::Str, "The command line to run."),
            opt(
                "timeout_secs",
                ParamType::Int {
                    min: 1,
                    max: Some(BASH_MAX_TIMEOUT_SECS),
                },
                "Timeout in seconds (default 120, max 600).",
            ),
        ],
    },
];

impl ToolDef {
    /// Finds a tool by name.
    pub fn find(name: &str) -> Option<&'static ToolDef> {
        TOOLS.iter().find(|t| t.name == name)
    }

    /// The JSON schema of the arguments object.
    pub fn schema(&self) -> Value {
        let mut properties = Map::new();
        for p in self.params {
            let mut prop = match p.ty {
                ParamType::Str => json!({"type": "string"}),
                ParamType::Bool => json!({"type": "boolean"}),
                ParamType::Int { min, max } => {
                    let mut v = json!({"type": "integer", "minimum": min});
                    if let Some(max) = max {
                        v["maximum"] = json!(max);
                    }
                    v
                }
            };
            prop["description"] = json!(p.description);
            properties.insert(p.name.to_string(), prop);
        }
        let required: Vec<&str> = self
            .params
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name)
            .collect();
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }

    /// The expected shape for error messages, e.g. `{"path": string, "offset"?: integer}`.
    pub fn shape(&self) -> String {
        let fields: Vec<String> = self
            .params
            .iter()
            .map(|p| {
                let ty = match p.ty {
                    ParamType::Str => "string".to_string(),
                    ParamType::Bool => "boolean".to_string(),
                    ParamType::Int { min, max: None } => format!("integer >= {min}"),
                    ParamType::Int {
                        min,
                        max: Some(max),
                    } => format!("integer {min}..={max}"),
                };
                let mark = if p.required { "" } else { "?" };
                format!("\"{}\"{mark}: {ty}", p.name)
            })
            .collect();
        format!("{{{}}}", fields.join(", "))
    }

    /// Parses `args_json` into `T`. An empty string counts as `{}`.
    ///
    /// Errors: [`ToolError::InvalidArgs`] naming the problem and the expected shape.
    pub fn parse<T: DeserializeOwned>(&self, args_json: &str) -> Result<T, ToolError> {
        let text = if args_json.trim().is_empty() {
            "{}"
        } else {
            args_json
        };
        let value: Value = serde_json::from_str(text)
            .map_err(|e| self.invalid(format!("the arguments are not valid JSON ({e})")))?;
        if !value.is_object() {
            return Err(self.invalid("the arguments must be a JSON object".to_string()));
        }
        serde_json::from_value(value).map_err(|e| self.invalid(e.to_string()))
    }

    /// An [`ToolError::InvalidArgs`] for this tool.
    pub fn invalid(&self, detail: String) -> ToolError {
        ToolError::InvalidArgs {
            tool: self.name.to_string(),
            detail,
            expected: self.shape(),
        }
    }
}

/// Arguments of `read_file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadFileArgs {
    pub path: String,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default)]
    pub limit: Option<u64>,
}

/// Arguments of `list_files`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListFilesArgs {
    pub pattern: String,
    #[serde(default)]
    pub path: Option<String>,
}

/// Arguments of `grep`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrepArgs {
    pub pattern: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub glob: Option<String>,
    #[serde(default)]
    pub case_insensitive: Option<bool>,
}

/// Arguments of `write_file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WriteFileArgs {
    pub path: String,
    pub content: String,
}

/// Arguments of `edit_file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditFileArgs {
    pub path: String,
    pub old_string: String,
    pub new_string: String,
    #[serde(default)]
    pub replace_all: Option<bool>,
}

/// Arguments of `bash`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BashArgs {
    pub command: String,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}
