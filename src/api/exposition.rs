//! Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE`
//! lines once per metric family, then its samples, with label values and
//! help texts escaped as the format requires.

use std::fmt::Write;

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// A metrics page being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Start a family: its HELP and TYPE lines. Samples of the family follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.out, "# HELP {name} {}", escape(help, false));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v, true));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
        self
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// The page.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Escape backslash and newline (and the double quote in label values).
fn escape(s: &str, quote: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_help_type_and_escaped_labels() {
        let mut e = Exposition::default();
        e.family("smsgw_x_total", Kind::Counter, "Things\nwith a \\ in help")
            .sample("smsgw_x_total", &[("modem", "a\"b\\c\nd")], 3.0)
            .sample("smsgw_x_total", &[("modem", "m1"), ("k", "v")], 0.5);
        e.single("smsgw_up", Kind::Gauge, "Up.", 1.0);
        assert_eq!(
            e.finish(),
            "# HELP smsgw_x_total Things\\nwith a \\\\ in help\n\
             # TYPE smsgw_x_total counter\n\
             smsgw_x_total{modem=\"a\\\"b\\\\c\\nd\"} 3\n\
             smsgw_x_total{modem=\"m1\",k=\"v\"} 0.5\n\
             # HELP smsgw_up Up.\n\
             # TYPE smsgw_up gauge\n\
             smsgw_up 1\n"
        );
    }

    #[test]
    fn special_numbers() {
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(-2.0), "-2");
        assert_eq!(number(1e20), "100000000000000000000");
    }
}
