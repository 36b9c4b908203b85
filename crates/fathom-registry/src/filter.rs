//! The run filter language and the sort key of run listings.
//!
//! A filter is conditions joined by `and`:
//!
//! ```text
//! metrics.auc_pr > 0.6 and params.model = 'gbdt' and tags.team like 'fraud%'
//! status = 'finished' and start_time >= '2026-01-01' and seed = 42
//! ```
//!
//! * `metrics.NAME` compares the latest value of a metric with a number
//!   (`=`, `!=`, `<`, `<=`, `>`, `>=`);
//! * `params.NAME` and `tags.NAME` compare text (`=`, `!=`, `like` with `%`
//!   and `_`, case-insensitive); a run without the key never matches;
//! * attributes: `status`, `name`, `data_snapshot`, `source_version`,
//!   `host`, `fathom_version` (text), `id`, `seed` (integers),
//!   `start_time`, `end_time` (an RFC 3339 time or a `YYYY-MM-DD` date);
//! * names with other characters are quoted: ``metrics.`val/auc` ``.
//!
//! The parser turns this into SQL with every value a bound parameter: user
//! text is never pasted into a statement.

use chrono::{NaiveDate, TimeZone, Utc};

use crate::backend::Dialect;
use crate::error::{RegistryError, Result};
use crate::value::SqlValue;

/// A parsed filter: all conditions must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// The conditions, in the order written.
    pub conditions: Vec<Condition>,
}

/// One comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// What is compared.
    pub field: Field,
    /// How.
    pub op: Op,
    /// With what.
    pub value: SqlValue,
}

/// Something a run can be filtered or sorted by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The latest value of a metric.
    Metric(String),
    /// A parameter.
    Param(String),
    /// A tag.
    Tag(String),
    /// A column of the run itself.
    Attribute(Attribute),
}

/// The run's own columns that can be filtered or sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    /// Run id.
    Id,
    /// Run name.
    Name,
    /// running, finished or failed.
    Status,
    /// Start time.
    StartTime,
    /// End time.
    EndTime,
    /// Seed.
    Seed,
    /// Data snapshot hash.
    DataSnapshot,
    /// Source code version.
    SourceVersion,
    /// Host.
    Host,
    /// fathom version.
    FathomVersion,
}

const ATTRIBUTES: &[(&str, Attribute)] = &[
    ("id", Attribute::Id),
    ("name", Attribute::Name),
    ("status", Attribute::Status),
    ("start_time", Attribute::StartTime),
    ("end_time", Attribute::EndTime),
    ("seed", Attribute::Seed),
    ("data_snapshot", Attribute::DataSnapshot),
    ("source_version", Attribute::SourceVersion),
    ("host", Attribute::Host),
    ("fathom_version", Attribute::FathomVersion),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Time,
}

impl Attribute {
    pub(crate) fn column(self) -> &'static str {
        match self {
            Attribute::Id => "r.id",
            Attribute::Name => "r.name",
            Attribute::Status => "r.status",
            Attribute::StartTime => "r.start_time",
            Attribute::EndTime => "r.end_time",
            Attribute::Seed => "r.seed",
            Attribute::DataSnapshot => "r.data_snapshot",
            Attribute::SourceVersion => "r.source_version",
            Attribute::Host => "r.host",
            Attribute::FathomVersion => "r.fathom_version",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Attribute::Id | Attribute::Seed => Kind::Integer,
            Attribute::StartTime | Attribute::EndTime => Kind::Time,
            _ => Kind::Text,
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `like`, case-insensitive, `%` and `_` wildcards.
    Like,
}

impl Op {
    fn sql(self, dialect: Dialect) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Like => dialect.like(),
        }
    }

    fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }
}

/// How runs are sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// By what.
    pub field: Field,
    /// Largest first.
    pub descending: bool,
}

impl Default for SortKey {
    /// Newest first.
    fn default() -> Self {
        SortKey {
            field: Field::Attribute(Attribute::StartTime),
            descending: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Str(String),
    Number(String),
    Dot,
    Op(Op),
}

struct Lexer<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Lexer {
            src,
            chars: src.char_indices().collect(),
            pos: 0,
        }
    }

    fn error(&self, at: usize, message: impl Into<String>) -> RegistryError {
        RegistryError::BadFilter {
            filter: self.src.to_owned(),
            position: at + 1,
            message: message.into(),
        }
    }

    /// All tokens with their character positions.
    fn tokens(mut self) -> Result<Vec<(usize, Token)>> {
        let mut out = Vec::new();
        while self.pos < self.chars.len() {
            let (_, c) = self.chars[self.pos];
            let start = self.pos;
            if c.is_whitespace() {
                self.pos += 1;
                continue;
            }
            let tok = match c {
                '.' => {
                    self.pos += 1;
                    Token::Dot
                }
                '\'' => Token::Str(self.quoted('\'')?),
                '`' | '"' => Token::Quoted(self.quoted(c)?),
                '=' => {
                    self.pos += 1;
                    if self.peek() == Some('=') {
                        self.pos += 1;
                    }
                    Token::Op(Op::Eq)
                }
                '!' => {
                    self.pos += 1;
                    if self.peek() != Some('=') {
                        return Err(self.error(start, "'!' must be followed by '=' (not equal)"));
                    }
                    self.pos += 1;
                    Token::Op(Op::Ne)
                }
                '<' | '>' => {
                    self.pos += 1;
                    let op = match (c, self.peek()) {
                        ('<', Some('=')) => Some(Op::Le),
                        ('>', Some('=')) => Some(Op::Ge),
                        ('<', Some('>')) => Some(Op::Ne),
                        _ => None,
                    };
                    match op {
                        Some(op) => {
                            self.pos += 1;
                            Token::Op(op)
                        }
                        None if c == '<' => Token::Op(Op::Lt),
                        None => Token::Op(Op::Gt),
                    }
                }
                c if c.is_ascii_digit() || c == '-' || c == '+' => Token::Number(self.number()?),
                c if c.is_alphabetic() || c == '_' => {
                    let mut w = String::new();
                    while let Some(c) = self.peek() {
                        if c.is_alphanumeric() || c == '_' || c == '-' {
                            w.push(c);
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                    Token::Word(w)
                }
                other => {
                    return Err(self.error(
                        start,
                        format!("unexpected '{other}'; quote names with other characters in backticks, values in single quotes"),
                    ));
                }
            };
            out.push((start, tok));
        }
        Ok(out)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    /// A quoted string; the quote doubled stands for itself.
    fn quoted(&mut self, q: char) -> Result<String> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error(start, format!("unclosed {q}: add the closing {q}"))),
                Some(c) if c == q => {
                    self.pos += 1;
                    if self.peek() == Some(q) {
                        s.push(q);
                        self.pos += 1;
                    } else {
                        return Ok(s);
                    }
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn number(&mut self) -> Result<String> {
        let start = self.pos;
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+') {
                s.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(s),
            _ => Err(self.error(start, format!("'{s}' is not a number"))),
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<(usize, Token)>,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> RegistryError {
        let at = self
            .tokens
            .get(self.pos)
            .map(|(p, _)| *p)
            .unwrap_or(self.src.chars().count());
        RegistryError::BadFilter {
            filter: self.src.to_owned(),
            position: at + 1,
            message: message.into(),
        }
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn field(&mut self) -> Result<Field> {
        let word = match self.next() {
            Some(Token::Word(w)) => w,
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.error(
                    "expected a field: metrics.NAME, params.NAME, tags.NAME or one of id, name, status, start_time, end_time, seed, data_snapshot, source_version, host, fathom_version",
                ));
            }
        };
        let lower = word.to_ascii_lowercase();
        let prefix = match lower.as_str() {
            "metrics" | "metric" => Some(0),
            "params" | "param" => Some(1),
            "tags" | "tag" => Some(2),
            _ => None,
        };
        if let Some(which) = prefix {
            if self.next() != Some(Token::Dot) {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.error(format!("expected '.' and a name after '{word}'")));
            }
            let name = match self.next() {
                Some(Token::Word(w)) | Some(Token::Quoted(w)) if !w.is_empty() => w,
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    return Err(self.error(format!(
                        "expected a name after '{word}.'; quote names with other characters in backticks"
                    )));
                }
            };
            return Ok(match which {
                0 => Field::Metric(name),
                1 => Field::Param(name),
                _ => Field::Tag(name),
            });
        }
        match ATTRIBUTES.iter().find(|(n, _)| *n == lower) {
            Some((_, a)) => Ok(Field::Attribute(*a)),
            None => {
                self.pos -= 1;
                Err(self.error(format!(
                    "unknown field '{word}'; use metrics.NAME, params.NAME, tags.NAME or one of {}",
                    ATTRIBUTES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    }

    fn condition(&mut self) -> Result<Condition> {
        let field = self.field()?;
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("like") => Op::Like,
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.error("expected a comparison: =, !=, <, <=, >, >= or like"));
            }
        };
        let value_pos = self.pos;
        let literal = self.next();
        let fail = |p: &mut Self, m: String| {
            p.pos = value_pos;
            Err(p.error(m))
        };
        // Errors about the operator point at the operator.
        let fail_op = |p: &mut Self, m: String| {
            p.pos = value_pos - 1;
            Err(p.error(m))
        };
        let value = match (&field, literal) {
            (Field::Metric(name), Some(Token::Number(n))) => {
                if op == Op::Like {
                    return fail(
                        self,
                        format!("metrics.{name} is a number; use =, !=, <, <=, > or >="),
                    );
                }
                SqlValue::Real(n.parse().unwrap_or(f64::NAN))
            }
            (Field::Metric(name), _) => {
                return fail(
                    self,
                    format!("metrics.{name} is compared with a number, like 0.6"),
                );
            }
            (Field::Param(name) | Field::Tag(name), Some(Token::Str(s) | Token::Number(s))) => {
                if op.is_ordering() {
                    let kind = if matches!(field, Field::Param(_)) {
                        "params"
                    } else {
                        "tags"
                    };
                    return fail_op(self, format!("{kind}.{name} is text; use =, != or like"));
                }
                SqlValue::Text(s)
            }
            (Field::Param(_) | Field::Tag(_), _) => {
                return fail(
                    self,
                    "expected a value in single quotes, like 'gbdt'".into(),
                );
            }
            (Field::Attribute(a), lit) => {
                let name = ATTRIBUTES
                    .iter()
                    .find(|(_, x)| x == a)
                    .map(|(n, _)| *n)
                    .unwrap_or("?");
                match (a.kind(), lit) {
                    (Kind::Text, Some(Token::Str(s))) => {
                        if op.is_ordering() {
                            return fail_op(self, format!("{name} is text; use =, != or like"));
                        }
                        if *a == Attribute::Status
                            && !matches!(s.as_str(), "running" | "finished" | "failed")
                        {
                            return fail(
                                self,
                                format!(
                                    "status '{s}' does not exist; use 'running', 'finished' or 'failed'"
                                ),
                            );
                        }
                        SqlValue::Text(s)
                    }
                    (Kind::Text, _) => {
                        return fail(
                            self,
                            format!("{name} is compared with text in single quotes"),
                        );
                    }
                    (Kind::Integer, Some(Token::Number(n))) if op != Op::Like => match n
                        .parse::<i64>()
                    {
                        Ok(v) => SqlValue::Int(v),
                        Err(_) => {
                            return fail(self, format!("{name} is a whole number; '{n}' is not"));
                        }
                    },
                    (Kind::Integer, _) => {
                        return fail(
                            self,
                            format!(
                                "{name} is compared with a whole number using =, !=, <, <=, > or >="
                            ),
                        );
                    }
                    (Kind::Time, Some(Token::Str(s))) if op != Op::Like => match parse_time(&s) {
                        Some(us) => SqlValue::Int(us),
                        None => {
                            return fail(
                                self,
                                format!(
                                    "'{s}' is not a time; use RFC 3339 ('2026-01-31T12:00:00Z') or a date ('2026-01-31')"
                                ),
                            );
                        }
                    },
                    (Kind::Time, _) => {
                        return fail(
                            self,
                            format!(
                                "{name} is compared with a time in single quotes, like '2026-01-31', using =, !=, <, <=, > or >="
                            ),
                        );
                    }
                }
            }
        };
        Ok(Condition { field, op, value })
    }

    fn filter(&mut self) -> Result<Filter> {
        let mut conditions = vec![self.condition()?];
        while let Some(t) = self.peek() {
            match t {
                Token::Word(w) if w.eq_ignore_ascii_case("and") => {
                    self.pos += 1;
                    conditions.push(self.condition()?);
                }
                Token::Word(w) if w.eq_ignore_ascii_case("or") => {
                    return Err(self.error("'or' is not supported; conditions are joined by 'and' (run two listings for alternatives)"));
                }
                _ => return Err(self.error("expected 'and' between conditions")),
            }
        }
        Ok(Filter { conditions })
    }
}

fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).timestamp_micros());
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(
        Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?)
            .timestamp_micros(),
    )
}

impl Filter {
    /// Parses a filter expression (see the module documentation). An empty
    /// or blank string is the filter that keeps every run.
    pub fn parse(src: &str) -> Result<Filter> {
        let tokens = Lexer::new(src).tokens()?;
        if tokens.is_empty() {
            return Ok(Filter::default());
        }
        let mut p = Parser {
            src,
            tokens,
            pos: 0,
        };
        p.filter()
    }

    /// Appends ` AND <condition>` for each condition, with bound values.
    pub(crate) fn push_sql(&self, b: &mut SqlBuilder, dialect: Dialect) {
        for c in &self.conditions {
            let op = c.op.sql(dialect);
            let table = match &c.field {
                Field::Metric(_) => "latest_metrics",
                Field::Param(_) => "run_params",
                Field::Tag(_) => "run_tags",
                Field::Attribute(a) => {
                    let v = b.param(c.value.clone());
                    b.sql.push_str(&format!(" AND {} {op} {v}", a.column()));
                    continue;
                }
            };
            let key = match &c.field {
                Field::Metric(k) | Field::Param(k) | Field::Tag(k) => k.clone(),
                Field::Attribute(_) => unreachable!("handled above"),
            };
            let k = b.param(SqlValue::Text(key));
            let v = b.param(c.value.clone());
            b.sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM {table} f WHERE f.run_id = r.id AND f.key = {k} AND f.value {op} {v})"
            ));
        }
    }
}

impl SortKey {
    /// Parses `FIELD [asc|desc]`, e.g. `metrics.auc_pr desc` (ascending if
    /// not said).
    pub fn parse(src: &str) -> Result<SortKey> {
        let tokens = Lexer::new(src).tokens()?;
        let mut p = Parser {
            src,
            tokens,
            pos: 0,
        };
        let field = p.field()?;
        let descending = match p.next() {
            None => false,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("asc") => false,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("desc") => true,
            _ => {
                p.pos -= 1;
                return Err(p.error("expected 'asc' or 'desc' after the sort field"));
            }
        };
        if p.peek().is_some() {
            return Err(p.error("unexpected text after the sort direction"));
        }
        Ok(SortKey { field, descending })
    }
}

/// SQL text with its bound parameters, numbered `$1`, `$2`, ….
#[derive(Debug, Default)]
pub(crate) struct SqlBuilder {
    pub(crate) sql: String,
    pub(crate) params: Vec<SqlValue>,
}

impl SqlBuilder {
    /// Binds `v` and returns its placeholder.
    pub(crate) fn param(&mut self, v: impl Into<SqlValue>) -> String {
        self.params.push(v.into());
        format!("${}", self.params.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_conditions_of_each_kind() {
        let f = Filter::parse(
            "metrics.auc_pr > 0.6 and params.model = 'gbdt' AND tags.`team/x` like 'fr%' and seed >= 3 and status != 'failed' and start_time < '2026-01-02'",
        )
        .unwrap();
        assert_eq!(f.conditions.len(), 6);
        assert_eq!(f.conditions[0].field, Field::Metric("auc_pr".into()));
        assert_eq!(f.conditions[0].op, Op::Gt);
        assert_eq!(f.conditions[0].value, SqlValue::Real(0.6));
        assert_eq!(f.conditions[1].value, SqlValue::Text("gbdt".into()));
        assert_eq!(f.conditions[2].field, Field::Tag("team/x".into()));
        assert_eq!(f.conditions[2].op, Op::Like);
        assert_eq!(f.conditions[3].value, SqlValue::Int(3));
        // 2026-01-02T00:00:00Z in microseconds, from `date -u -d 2026-01-02 +%s`.
        assert_eq!(f.conditions[5].value, SqlValue::Int(1_767_312_000_000_000));
    }

    #[test]
    fn values_are_bound_never_pasted() {
        let f = Filter::parse("params.model = 'x''; DROP TABLE runs; --'").unwrap();
        let mut b = SqlBuilder::default();
        f.push_sql(&mut b, Dialect::Sqlite);
        assert!(!b.sql.contains("DROP"), "{}", b.sql);
        assert_eq!(
            b.params[1],
            SqlValue::Text("x'; DROP TABLE runs; --".into())
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            ("metrics.auc > 'high'", 15, "compared with a number"),
            ("params.model > 'a'", 14, "is text"),
            ("colour = 'red'", 1, "unknown field 'colour'"),
            ("metrics.auc > 0.5 or seed = 1", 19, "'or' is not supported"),
            ("status = 'done'", 10, "'running', 'finished' or 'failed'"),
            ("name = 'abc", 8, "unclosed '"),
            ("metrics.auc 0.5", 13, "expected a comparison"),
        ];
        for (src, pos, needle) in cases {
            match Filter::parse(src) {
                Err(RegistryError::BadFilter {
                    position, message, ..
                }) => {
                    assert_eq!(position, pos, "{src}: {message}");
                    assert!(message.contains(needle), "{src}: {message}");
                }
                other => panic!("{src}: expected a filter error, got {other:?}"),
            }
        }
    }

    #[test]
    fn sort_keys() {
        assert_eq!(
            SortKey::parse("metrics.auc_pr desc").unwrap(),
            SortKey {
                field: Field::Metric("auc_pr".into()),
                descending: true
            }
        );
        assert!(!SortKey::parse("name").unwrap().descending);
        assert!(SortKey::parse("name sideways").is_err());
    }
}
