//! The adapter side of keyrace-adapter/1: hello, then one reply per request line until EOF.

use std::io::{self, BufRead, Write};

use crate::code::ErrorCode;
use crate::message::{Failure, Hello, Op, Reply, Request, Success};

/// Say `hello` on `output`, then answer every request line of `input` with `handle`'s result,
/// in order, until EOF. Framing, ids and flushing are done here: a request that cannot be
/// parsed is answered with a coded error (`INVALID_ARGUMENT`, or `UNSUPPORTED_OP` for an op
/// this crate does not know) when its id can be read. Unknown fields are ignored. Returns
/// when `input` ends; an error only when `input` or `output` fails.
pub fn serve<H>(
    hello: &Hello,
    input: impl BufRead,
    mut output: impl Write,
    mut handle: H,
) -> io::Result<()>
where
    H: FnMut(&Op) -> Result<Success, Failure>,
{
    writeln!(output, "{}", hello.to_line())?;
    output.flush()?;
    for line in input.split(b'\n') {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let reply = match Request::parse(&line) {
            Ok(request) => Reply {
                id: request.id,
                outcome: handle(&request.op),
            },
            Err((id, detail)) => Reply::failure(
                id.unwrap_or(0),
                match id {
                    Some(_) => ErrorCode::UnsupportedOp,
                    None => ErrorCode::InvalidArgument,
                },
                format!("unreadable request: {detail}"),
            ),
        };
        writeln!(output, "{}", reply.to_line())?;
        output.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::OpName;

    fn run(input: &str) -> Vec<String> {
        let hello = Hello::new("test store", &[OpName::Get]);
        let mut out = Vec::new();
        serve(&hello, input.as_bytes(), &mut out, |op| match op {
            Op::Get { name, .. } if name == "k" => Ok(Success {
                value: Some(Some("v".to_owned())),
                ..Success::default()
            }),
            Op::Get { .. } => Ok(Success {
                value: Some(None),
                ..Success::default()
            }),
            _ => Err(Failure::new(ErrorCode::UnsupportedOp, "only get")),
        })
        .unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn hello_then_one_reply_per_request_with_its_id() {
        let lines = run(concat!(
            r#"{"id":7,"op":"get","store":"/s","name":"k","extra":1}"#,
            "\n\n",
            r#"{"id":8,"op":"get","store":"/s","name":"x"}"#,
            "\n",
            r#"{"id":9,"op":"open","store":"/s"}"#,
            "\n",
        ));
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(Hello::parse(lines[0].as_bytes()).is_ok(), "{}", lines[0]);
        let replies: Vec<Reply> = lines[1..]
            .iter()
            .map(|l| Reply::parse(l.as_bytes()).unwrap())
            .collect();
        assert_eq!(replies[0].id, 7);
        assert_eq!(
            replies[0].outcome.as_ref().unwrap().value,
            Some(Some("v".to_owned()))
        );
        assert_eq!(replies[1].outcome.as_ref().unwrap().value, Some(None));
        assert_eq!(
            replies[2].outcome.as_ref().unwrap_err().code,
            crate::message::Code::Known(ErrorCode::UnsupportedOp)
        );
    }

    #[test]
    fn unreadable_requests_get_coded_errors() {
        let lines = run("not json\n{\"id\":3,\"op\":\"fly\",\"store\":\"/s\"}\n");
        let garbage = Reply::parse(lines[1].as_bytes()).unwrap();
        let unknown = Reply::parse(lines[2].as_bytes()).unwrap();
        assert_eq!(
            garbage.outcome.unwrap_err().code,
            crate::message::Code::Known(ErrorCode::InvalidArgument)
        );
        assert_eq!(unknown.id, 3);
        assert_eq!(
            unknown.outcome.unwrap_err().code,
            crate::message::Code::Known(ErrorCode::UnsupportedOp)
        );
    }
}
