//! Reading files: types, batching, round trips, and every kind of bad input.

use fathom_core::{ColumnType, FrameHasher};
use fathom_data::export::{TableWriter, write_frame};
use fathom_data::ingest::{BadValuePolicy, ReadOptions, open, read_frame};
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn err_text(path: &Path) -> String {
    read_frame(path, &ReadOptions::default())
        .unwrap_err()
        .to_string()
}

fn hash_of(path: &Path) -> String {
    let mut h = FrameHasher::default();
    for b in open(path, &ReadOptions::default()).unwrap() {
        h.update(&b.unwrap()).unwrap();
    }
    h.finish()
}

#[test]
fn csv_types_nulls_and_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "t.csv",
        b"\xEF\xBB\xBFid,amount,city,ok,when\n1,12.5,\"New York, NY\",true,2024-01-01T10:00:00Z\n2,,\"multi\nline\",false,\n3,1e3,NA,True,2024-01-02\n",
    );
    let f = read_frame(&p, &ReadOptions::default()).unwrap();
    let types: Vec<ColumnType> = f.columns().iter().map(|c| c.column_type()).collect();
    use ColumnType::*;
    assert_eq!(types, vec![Numeric, Numeric, Categorical, Bool, Timestamp]);
    assert_eq!(f.num_rows(), 3);
    let city = f.column("city").unwrap();
    assert_eq!(city.display_value(0), "New York, NY");
    assert_eq!(city.display_value(1), "multi\nline");
    assert_eq!(
        city.display_value(2),
        "NA",
        "NA is a level of a text column"
    );
    assert_eq!(f.column("amount").unwrap().null_count(), 1);
    assert_eq!(
        f.column("when").unwrap().display_value(2),
        "2024-01-02T00:00:00Z"
    );
}

#[test]
fn bad_number_names_file_row_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,amount\n");
    for i in 0..500 {
        text.push_str(&format!("{i},{}.5\n", i % 7));
    }
    text.push_str("500,12x\n");
    let p = write(dir.path(), "bad.csv", text.as_bytes());
    // A tiny inference sample makes the bad value fall past it.
    let opts = ReadOptions {
        infer_rows: 100,
        window_bytes: 1024,
        ..Default::default()
    };
    let e = read_frame(&p, &opts).unwrap_err().to_string();
    assert!(
        e.contains("bad.csv: row 501, line 502, column 'amount'"),
        "{e}"
    );
    assert!(
        e.contains("'12x' is not a number, but the column is numeric"),
        "{e}"
    );
    assert!(e.contains("--schema"), "says what to do: {e}");
    // In validation mode the same value is recorded instead.
    let opts = ReadOptions {
        infer_rows: 100,
        bad_values: BadValuePolicy::RecordAsNull,
        ..Default::default()
    };
    let mut r = open(&p, &opts).unwrap();
    let rows: usize = r.by_ref().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 501);
    let bad = &r.bad_values().columns["amount"];
    assert_eq!(
        (bad.count, bad.examples[0].clone()),
        (1, (501, "12x".to_string()))
    );
}

#[test]
fn ragged_row_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "ragged.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8\n");
    let e = err_text(&p);
    assert!(e.contains("ragged.csv: row 2, line 3"), "{e}");
    assert!(
        e.contains("the row has 2 fields but the header has 3"),
        "{e}"
    );
}

#[test]
fn invalid_utf8_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "latin1.csv", b"name,x\nok,1\ncaf\xE9,2\n");
    let e = err_text(&p);
    assert!(
        e.contains("latin1.csv: row 2, line 3, column 'name'"),
        "{e}"
    );
    assert!(e.contains("not valid UTF-8; save the file as UTF-8"), "{e}");
    let p = write(dir.path(), "header.csv", b"n\xE9,x\n1,2\n");
    assert!(err_text(&p).contains("the header is not valid UTF-8"));
}

#[test]
fn empty_and_header_problems() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "empty.csv", b"");
    let e = err_text(&p);
    assert!(
        e.contains("empty.csv: the file is empty; it needs a header line"),
        "{e}"
    );
    let p = write(dir.path(), "blank.csv", b"\n\n  \n");
    assert!(err_text(&p).contains("the file is empty"));
    let p = write(dir.path(), "dup.csv", b"a,b,a\n1,2,3\n");
    assert!(err_text(&p).contains("column 'a': this column name appears twice"));
    let p = write(dir.path(), "empty.parquet", b"");
    assert!(err_text(&p).contains("empty.parquet: the file is empty"));
    let p = write(dir.path(), "data.json", b"{}");
    assert!(err_text(&p).contains(
        "cannot tell the format from the file name; use a name ending in .csv or .parquet"
    ));
    let e = err_text(&dir.path().join("missing.csv"));
    assert!(e.contains("missing.csv: No such file"), "{e}");
}

#[test]
fn truncated_parquet_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "t.csv", b"a,b\n1,x\n2,y\n3,z\n");
    let frame = read_frame(&csv, &ReadOptions::default()).unwrap();
    let pq = dir.path().join("t.parquet");
    write_frame(&pq, &frame).unwrap();
    let bytes = std::fs::read(&pq).unwrap();
    let cut = write(dir.path(), "cut.parquet", &bytes[..bytes.len() / 2]);
    let e = err_text(&cut);
    assert!(
        e.contains("cut.parquet: not a readable Parquet file"),
        "{e}"
    );
    assert!(e.contains("truncated or corrupt"), "{e}");
    let junk = write(
        dir.path(),
        "junk.parquet",
        b"this is not parquet at all, just text",
    );
    assert!(err_text(&junk).contains("junk.parquet: not a readable Parquet file"));
}

#[test]
fn csv_and_parquet_round_trip_to_the_same_content_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,amount,mcc,online,ts\n");
    for i in 0..3000 {
        let mcc = ["grocery", "travel", "gas,station", "\"quoted\""][i % 4].replace('"', "\"\"");
        let amount = if i % 50 == 0 {
            String::new()
        } else {
            format!("{}.{:02}", i * 7 % 1000, i % 100)
        };
        text.push_str(&format!(
            "{i},{amount},\"{mcc}\",{},2024-01-{:02}T{:02}:00:00Z\n",
            i % 3 == 0,
            i % 28 + 1,
            i % 24
        ));
    }
    let csv = write(dir.path(), "t.csv", text.as_bytes());
    // Many small windows and batches must not change the data.
    let small = ReadOptions {
        window_bytes: 4096,
        ..Default::default()
    };
    let a = read_frame(&csv, &small).unwrap();
    let b = read_frame(&csv, &ReadOptions::default()).unwrap();
    assert_eq!(a.num_rows(), 3000);
    for (x, y) in a.columns().iter().zip(b.columns()) {
        for i in (0..3000).step_by(37) {
            assert_eq!(x.display_value(i), y.display_value(i));
        }
    }
    let pq = dir.path().join("t.parquet");
    write_frame(&pq, &a).unwrap();
    let csv2 = dir.path().join("t2.csv");
    write_frame(&csv2, &read_frame(&pq, &ReadOptions::default()).unwrap()).unwrap();
    assert_eq!(hash_of(&csv), hash_of(&pq));
    assert_eq!(hash_of(&csv), hash_of(&csv2));
    assert_eq!(
        read_frame(&csv2, &ReadOptions::default())
            .unwrap()
            .column("mcc")
            .unwrap()
            .display_value(3),
        "\"quoted\""
    );
}

#[test]
fn failed_write_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.parquet");
    {
        let mut w = TableWriter::create(&target, &[("a".into(), ColumnType::Numeric)]).unwrap();
        let wrong =
            fathom_core::Frame::new(vec![fathom_core::Column::boolean("a", vec![true])]).unwrap();
        assert!(w.write(&wrong).is_err());
        // Dropped without finish.
    }
    assert!(!target.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "temporary files are cleaned up");
}

#[test]
fn multi_row_group_parquet_reads_back_identically() {
    use fathom_data::generate::{GeneratorConfig, generate_all};
    let frame = generate_all(GeneratorConfig {
        rows: 140_000,
        seed: 3,
        ..GeneratorConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("g.parquet");
    write_frame(&pq, &frame).unwrap();
    let mut expected = FrameHasher::default();
    expected.update(&frame).unwrap();
    // Row groups are decoded in parallel, each from its own file handle.
    assert_eq!(hash_of(&pq), expected.finish());
    assert_eq!(
        open(&pq, &ReadOptions::default()).unwrap().total_rows(),
        Some(140_000)
    );
}

/// Every column of two frames, bit for bit (values of null rows excepted).
fn assert_same_frame(a: &fathom_core::Frame, b: &fathom_core::Frame) {
    assert_eq!(a.num_rows(), b.num_rows());
    assert_eq!(a.num_columns(), b.num_columns());
    for (x, y) in a.columns().iter().zip(b.columns()) {
        assert_eq!(x.name, y.name);
        assert_eq!(x.column_type(), y.column_type(), "{}", x.name);
        assert_eq!(x.validity, y.validity, "{}", x.name);
        for i in 0..a.num_rows() {
            assert_eq!(x.display_value(i), y.display_value(i), "{} row {i}", x.name);
        }
    }
}

#[test]
fn whole_parquet_read_equals_its_batches_with_changing_dictionaries() {
    use fathom_core::{Bitmap, Column, Frame};
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("d.parquet");
    let cols = [
        ("x".to_string(), ColumnType::Numeric),
        ("c".to_string(), ColumnType::Categorical),
        ("b".to_string(), ColumnType::Bool),
        ("t".to_string(), ColumnType::Timestamp),
    ];
    let mut w = TableWriter::create(&pq, &cols).unwrap();
    // Row groups whose dictionaries differ in levels and order, with and
    // without nulls, of uneven sizes (bit offsets not multiples of 64).
    let groups: [(&[&str], usize); 3] = [
        (&["red", "green"], 70),
        (&["blue", "red"], 33),
        (&["green", "red", "violet"], 101),
    ];
    let mut batches = Vec::new();
    for (g, (levels, n)) in groups.iter().enumerate() {
        let names: Vec<&str> = (0..*n).map(|i| levels[i % levels.len()]).collect();
        let mut c = Column::categorical("c", &names);
        let mut x = Column::numeric("x", (0..*n).map(|i| (g * 1000 + i) as f64 / 4.0).collect());
        if g != 1 {
            c.validity = Some(Bitmap::from_bools(
                &(0..*n).map(|i| i % 7 != 3).collect::<Vec<_>>(),
            ));
            x.validity = Some(Bitmap::from_bools(
                &(0..*n).map(|i| i % 5 != 1).collect::<Vec<_>>(),
            ));
        }
        let f = Frame::new(vec![
            x,
            c,
            Column::boolean("b", (0..*n).map(|i| (i + g) % 3 == 0).collect()),
            Column::timestamp(
                "t",
                (0..*n)
                    .map(|i| (g * 10_000 + i) as i64 * 1_000_003)
                    .collect(),
            ),
        ])
        .unwrap();
        w.write(&f).unwrap();
        batches.push(f);
    }
    w.finish().unwrap();
    let whole = read_frame(&pq, &ReadOptions::default()).unwrap();
    assert_same_frame(&whole, &Frame::concat(&batches).unwrap());
    let streamed: Vec<Frame> = open(&pq, &ReadOptions::default())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(streamed.len(), 3);
    assert_same_frame(&whole, &Frame::concat(&streamed).unwrap());
}

/// The text of a CSV file and the ids, notes and flags it should read as.
type Awkward = (String, Vec<f64>, Vec<Option<String>>, Vec<Option<bool>>);

/// A CSV of `n` rows with quoted newlines and delimiters, CRLF endings
/// on some lines, blank lines, and no newline after the last row; with the
/// values each column should read as.
fn awkward_csv(n: usize) -> Awkward {
    let mut text = String::from("id,note,flag,amount\r\n");
    let (mut ids, mut notes, mut flags) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let (note_cell, note) = match i % 6 {
            0 => ("\"two\nlines\"".to_string(), Some("two\nlines".to_string())),
            1 => ("\"a, b\"".to_string(), Some("a, b".to_string())),
            2 => (String::new(), None),
            3 => (
                "\"say \"\"hi\"\"\"".to_string(),
                Some("say \"hi\"".to_string()),
            ),
            _ => (format!("n{}", i % 5), Some(format!("n{}", i % 5))),
        };
        let flag = (i % 4 != 2).then_some(i % 3 == 0);
        let flag_cell = flag.map_or(String::new(), |f| f.to_string());
        let end = if i + 1 == n {
            ""
        } else if i % 3 == 0 {
            "\r\n"
        } else {
            "\n"
        };
        text.push_str(&format!("{i},{note_cell},{flag_cell},{}.25{end}", i % 1000));
        if i % 97 == 0 && i + 1 < n {
            text.push('\n');
        }
        ids.push(i as f64);
        notes.push(note);
        flags.push(flag);
    }
    (text, ids, notes, flags)
}

#[test]
fn csv_parts_and_windows_do_not_change_the_table() {
    use fathom_core::ColumnData;
    let dir = tempfile::tempdir().unwrap();
    let n = 120_000;
    let (text, ids, notes, flags) = awkward_csv(n);
    let p = write(dir.path(), "awkward.csv", text.as_bytes());
    let check = |f: &fathom_core::Frame, what: &str| {
        assert_eq!(f.num_rows(), n, "{what}");
        let id = f.column("id").unwrap();
        assert_eq!(id.data, ColumnData::Numeric(ids.clone()), "{what}");
        let note = f.column("note").unwrap();
        let flag = f.column("flag").unwrap();
        let amount = f.column("amount").unwrap();
        for i in 0..n {
            let got = note.is_valid(i).then(|| note.display_value(i));
            assert_eq!(got, notes[i], "{what}: note of row {i}");
            let got = flag.is_valid(i).then(|| flag.display_value(i) == "true");
            assert_eq!(got, flags[i], "{what}: flag of row {i}");
            assert_eq!(
                amount.display_value(i),
                format!("{}.25", i % 1000),
                "{what}: amount of row {i}"
            );
        }
    };
    let small = ReadOptions {
        window_bytes: 1 << 16,
        ..Default::default()
    };
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            check(&read_frame(&p, &ReadOptions::default()).unwrap(), "whole");
            check(&read_frame(&p, &small).unwrap(), "whole, small windows");
            let batches: Vec<fathom_core::Frame> =
                open(&p, &small).unwrap().collect::<Result<_, _>>().unwrap();
            assert!(batches.len() > 10);
            check(&fathom_core::Frame::concat(&batches).unwrap(), "batches");
        });
    }
}

#[test]
fn errors_in_later_windows_name_the_exact_row_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let n = 60_000;
    let (mut text, ..) = awkward_csv(n);
    // Rows before the bad one: n; lines: header, one per row, the quoted
    // newlines (every sixth row from 0) and the blank lines (every 97th).
    let extra = (0..n).filter(|i| i % 6 == 0).count() + (0..n - 1).filter(|i| i % 97 == 0).count();
    text.push_str("\n60000,x,true,12x\n");
    let p = write(dir.path(), "late.csv", text.as_bytes());
    let want = format!(
        "late.csv: row {}, line {}, column 'amount'",
        n + 1,
        n + 2 + extra
    );
    for window_bytes in [1 << 16, 32 << 20] {
        let opts = ReadOptions {
            window_bytes,
            infer_rows: 1000,
            ..Default::default()
        };
        let Err(e) = read_frame(&p, &opts) else {
            panic!("{window_bytes}: the bad value was read");
        };
        let e = e.to_string();
        assert!(e.contains(&want), "{window_bytes}: {e}");
        let e = open(&p, &opts)
            .unwrap()
            .find_map(|b| b.err())
            .unwrap()
            .to_string();
        assert!(e.contains(&want), "{window_bytes}, batches: {e}");
    }
}

/// Type inference looks at exactly `infer_rows` leading rows, however many
/// windows they fill: a text cell at row 10,001 (past the first 64 KiB
/// window) makes the column text when inference reaches it, and is an
/// error naming that row and pointing to a contract when it does not.
#[test]
fn inference_reads_its_rows_past_the_first_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,code\n");
    for i in 0..10_000 {
        text.push_str(&format!("{i},{}\n", 100_000 + i));
    }
    text.push_str("10000,A17\n");
    let p = write(dir.path(), "codes.csv", text.as_bytes());
    assert!(
        text.len() > 1 << 16,
        "the rows must outgrow the first window"
    );
    let options = |infer_rows| ReadOptions {
        window_bytes: 1 << 16,
        infer_rows,
        ..Default::default()
    };
    let frame = read_frame(&p, &options(20_000)).unwrap();
    let code = frame.column("code").unwrap();
    assert_eq!(code.column_type(), ColumnType::Categorical);
    assert_eq!(code.display_value(10_000), "A17");
    assert_eq!(code.display_value(0), "100000");
    let e = read_frame(&p, &options(5_000)).unwrap_err().to_string();
    assert!(e.contains("codes.csv: row 10001"), "{e}");
    assert!(
        e.contains("'A17' is not a number") && e.contains("--schema"),
        "{e}"
    );
}

/// A quote-free CSV (parsed a block of lines at a time) whose numbers
/// take every shape: short and long, signed, with a leading or trailing
/// dot, exponents, null markers, CRLF endings and no final newline, so
/// that the word-at-a-time path for short decimals and the general parser
/// meet at every boundary. Each value must equal Rust's own parse of it.
#[test]
fn quote_free_numbers_of_every_shape_read_exactly() {
    use fathom_core::ColumnData;
    let shapes = [
        "0",
        "-0",
        "7",
        "5.",
        ".5",
        "-.5",
        "12.25",
        "-3.75",
        "0.5629",
        "99999999",
        "-9999999",
        "123456789",
        "1234.5678",
        "0.000001",
        "1e3",
        "-2.5E-3",
        "NA",
        "",
        "17.99999999999999999",
        "9007199254740993",
        "+4",
        "  6.5 ",
    ];
    let n = 30_000;
    let mut text = String::from("a,b,c\n");
    let mut want: [Vec<Option<f64>>; 3] = Default::default();
    for i in 0..n {
        let cells: Vec<&str> = (0..3)
            .map(|j| shapes[(i * (j + 1) + j) % shapes.len()])
            .collect();
        let end = if i + 1 == n {
            ""
        } else if i % 5 == 0 {
            "\r\n"
        } else {
            "\n"
        };
        text.push_str(&format!("{},{},{}{end}", cells[0], cells[1], cells[2]));
        for (j, c) in cells.iter().enumerate() {
            let c = c.trim();
            want[j].push((!c.is_empty() && c != "NA").then(|| c.parse::<f64>().unwrap()));
        }
    }
    assert!(!text.contains('"'));
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "numbers.csv", text.as_bytes());
    read_every_way(&p, |f, threads| {
        assert_eq!(f.num_rows(), n);
        for (j, name) in ["a", "b", "c"].iter().enumerate() {
            let col = f.column(name).unwrap();
            let ColumnData::Numeric(values) = &col.data else {
                panic!("{name} is not numeric");
            };
            for (i, w) in want[j].iter().enumerate() {
                let got = col.is_valid(i).then(|| values[i].to_bits());
                assert_eq!(
                    got,
                    w.map(f64::to_bits),
                    "{name} row {i} ({threads} threads)"
                );
            }
        }
    });
}

/// Reads `path` whole on 1 and 3 threads, with the default windows and
/// with 64 KiB ones, and hands each frame to `check` with the thread count.
fn read_every_way(path: &std::path::Path, check: impl Fn(&fathom_core::Frame, usize) + Sync) {
    let small = ReadOptions {
        window_bytes: 1 << 16,
        ..Default::default()
    };
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            for options in [&ReadOptions::default(), &small] {
                check(&read_frame(path, options).unwrap(), threads);
            }
        });
    }
}

/// Categorical cells of a quote-free CSV that share their first eight
/// bytes, differ only in length or in a late byte, are null markers, or
/// are among more levels than the lookup cache holds, all read back as
/// their own text.
#[test]
fn quote_free_categories_that_look_alike_read_exactly() {
    let mut levels: Vec<String> = [
        "US",
        "USA",
        "U",
        "category",
        "category_a",
        "category_b",
        "category_ab",
        "categorz",
        "pos_terminal",
        "pos_terminaL",
        "x",
        "NA",
        // Nine to sixteen bytes: the same first and last eight bytes
        // decide, so these differ only in between or in length.
        "merchant_gas",
        "merchant_gaz",
        "abcdefgh12345678",
        "abcdefgh12345679",
        "abcdefgX12345678",
        "abcdefgh2345678",
        // Longer: the same first and last eight bytes, a middle byte apart.
        "aaaaaaaaXbbbbbbbb",
        "aaaaaaaaYbbbbbbbb",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    levels.extend((0..150).map(|k| format!("level{k}")));
    let n = 40_000;
    let mut text = String::from("id,kind\n");
    let mut want = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let (cell, value) = match state % 23 {
            0 => ("", None),
            1 => ("N/A", None),
            k => {
                let level = &levels[((state >> 8) as usize + k as usize) % levels.len()];
                (level.as_str(), Some(level.clone()))
            }
        };
        let end = if i % 7 == 0 { "\r\n" } else { "\n" };
        text.push_str(&format!("{i},{cell}{end}"));
        want.push(value);
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "kinds.csv", text.as_bytes());
    read_every_way(&p, |f, threads| {
        let kind = f.column("kind").unwrap();
        assert_eq!(kind.column_type(), fathom_core::ColumnType::Categorical);
        for (i, w) in want.iter().enumerate() {
            let got = kind.is_valid(i).then(|| kind.display_value(i));
            assert_eq!(&got, w, "row {i} ({threads} threads)");
        }
    });
}

/// Timestamps of the usual `YYYY-MM-DDTHH:MM:SSZ` shape (the date changing
/// every few rows, so the cached date is both reused and replaced) among
/// other shapes and nulls, and booleans in every strict spelling, read
/// back as the general parsers read each cell, on 1 and 3 threads and in
/// small windows.
#[test]
fn quote_free_timestamps_and_booleans_read_exactly() {
    use fathom_core::ColumnData;
    use fathom_core::time::parse_timestamp;
    let other_times = [
        "2024-03-01",
        "2024-03-01 10:20:30Z",
        "2024-03-01T10:20:30z",
        "2024-03-01T10:20:30.25Z",
        "2024-03-01T10:20:30+02:00",
        "2024-03-01T10:20",
        "",
        "2024-02-29T23:59:60Z",
    ];
    let bools = ["true", "false", "True", "False", "TRUE", "FALSE", ""];
    let n = 30_000;
    let mut text = String::from("id,t,b\n");
    let (mut times, mut flags) = (Vec::new(), Vec::new());
    for i in 0..n {
        let t = if i % 11 == 5 {
            other_times[i / 11 % other_times.len()].to_string()
        } else {
            // 2023 to 2026 by roughly five rows a day, every second of a day.
            let day = i / 5;
            let (y, m, d) = fathom_core::time::civil_from_days(19_358 + day as i64);
            let s = (i * 7919) % 86_400;
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                s / 3600,
                s / 60 % 60,
                s % 60
            )
        };
        let b = bools[(i * 5 + i / 3) % bools.len()];
        let end = if i + 1 == n {
            ""
        } else if i % 13 == 0 {
            "\r\n"
        } else {
            "\n"
        };
        text.push_str(&format!("{i},{t},{b}{end}"));
        times.push((!t.is_empty()).then(|| parse_timestamp(t.as_bytes()).unwrap()));
        flags.push(match b {
            "" => None,
            b => Some(b.eq_ignore_ascii_case("true")),
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "times.csv", text.as_bytes());
    read_every_way(&p, |f, threads| {
        assert_eq!(f.num_rows(), n);
        let t = f.column("t").unwrap();
        let ColumnData::Timestamp(values) = &t.data else {
            panic!("t is not a timestamp column");
        };
        let b = f.column("b").unwrap();
        let ColumnData::Bool(bits) = &b.data else {
            panic!("b is not a bool column");
        };
        for i in 0..n {
            let got = t.is_valid(i).then(|| values[i]);
            assert_eq!(got, times[i], "t of row {i} ({threads} threads)");
            let got = b.is_valid(i).then(|| bits[i]);
            assert_eq!(got, flags[i], "b of row {i} ({threads} threads)");
        }
    });
}

/// A timestamp of the usual shape but an impossible hour, far into the
/// file: the error names the file, its row, line and column, whatever
/// the threads and windows.
#[test]
fn a_bad_timestamp_late_in_the_file_is_named_exactly() {
    let n = 50_000;
    let mut text = String::from("id,t\n");
    for i in 0..n {
        text.push_str(&format!("{i},2024-01-{:02}T12:00:00Z\n", i % 28 + 1));
    }
    text.push_str(&format!(
        "{n},2024-01-02T24:00:00Z\n{},2024-01-03T00:00:00Z",
        n + 1
    ));
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "late_time.csv", text.as_bytes());
    let want = format!("late_time.csv: row {}, line {}, column 't'", n + 1, n + 2);
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            for window_bytes in [1 << 16, 8 << 20] {
                let opts = ReadOptions {
                    window_bytes,
                    infer_rows: 1000,
                    ..Default::default()
                };
                let Err(e) = read_frame(&p, &opts) else {
                    panic!("{window_bytes}: the bad value was read");
                };
                let e = e.to_string();
                assert!(e.contains(&want), "{threads} threads, {window_bytes}: {e}");
                assert!(e.contains("timestamp"), "{e}");
            }
        });
    }
}

/// Lines longer than a parsing block and than a 64 KiB window (a cell of
/// 70,000 bytes) between ordinary ones, and runs of 65-byte lines, whose
/// delimiters and newlines fall at every offset of the 64-byte blocks
/// that fields are split by: every cell reads back whole.
#[test]
fn very_long_lines_and_delimiters_on_block_boundaries_read_exactly() {
    use fathom_core::ColumnData;
    let n = 3_000;
    let mut text = String::from("id,note,x\n");
    let (mut notes, mut xs) = (Vec::new(), Vec::new());
    for i in 0..n {
        let x = (i % 1000) as f64 / 8.0;
        let note = match i % 500 {
            7 => format!("long{}", "y".repeat(70_000 + i)),
            100..300 => "z".repeat(65 - format!("{i},,{x}\n").len()),
            _ => format!("n{}", i % 17),
        };
        text.push_str(&format!("{i},{note},{x}\n"));
        notes.push(note);
        xs.push(x);
    }
    assert!(text.lines().filter(|l| l.len() == 64).count() >= 2 * 200);
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "long.csv", text.as_bytes());
    read_every_way(&p, |f, threads| {
        assert_eq!(f.num_rows(), n);
        let note = f.column("note").unwrap();
        let ColumnData::Numeric(got) = &f.column("x").unwrap().data else {
            panic!("x is not numeric");
        };
        for i in 0..n {
            assert_eq!(
                note.display_value(i),
                notes[i],
                "note of row {i} ({threads} threads)"
            );
            assert_eq!(
                got[i].to_bits(),
                xs[i].to_bits(),
                "x of row {i} ({threads} threads)"
            );
        }
    });
}
