//! Direct Parquet decoding against the Arrow reader: every file must read
//! to the same frame (values, nulls, levels, types) whichever path decodes
//! its column chunks, at any thread count.

use fathom_core::{Bitmap, Column, ColumnData, ColumnType, Frame};
use fathom_data::export::{TableWriter, write_frame};
use fathom_data::generate::{GeneratorConfig, generate_all};
use fathom_data::ingest::{DecodeReport, ParquetReader, ReadOptions, read_frame};
use std::path::{Path, PathBuf};

/// How a test reads a file.
#[derive(Clone, Copy, Debug)]
enum Path_ {
    Direct,
    General,
}

/// Reads the whole file on `threads` threads, directly where possible or
/// through the Arrow reader only.
fn read(path: &Path, threads: usize, how: Path_) -> (Frame, DecodeReport) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut reader = ParquetReader::open(path, &ReadOptions::default()).unwrap();
        if let Path_::General = how {
            reader = reader.decode_generally();
        }
        let frame = reader.read_all().unwrap();
        (frame, reader.decode_report())
    })
}

/// The batches of a streaming read, concatenated.
fn streamed(path: &Path, how: Path_) -> Frame {
    let mut reader = ParquetReader::open(path, &ReadOptions::default()).unwrap();
    if let Path_::General = how {
        reader = reader.decode_generally();
    }
    let batches: Vec<Frame> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    Frame::concat(&batches).unwrap()
}

/// Two frames are the same table: names, types, validity, category levels
/// in order, codes, and values bit for bit (placeholders of null rows
/// included: `NaN`, 0, `false`, code 0).
fn assert_same(a: &Frame, b: &Frame) {
    assert_eq!(a.num_rows(), b.num_rows());
    assert_eq!(a.num_columns(), b.num_columns());
    for (x, y) in a.columns().iter().zip(b.columns()) {
        assert_eq!(x.name, y.name);
        assert_eq!(x.column_type(), y.column_type(), "{}", x.name);
        assert_eq!(x.validity, y.validity, "{}", x.name);
        match (&x.data, &y.data) {
            (ColumnData::Numeric(p), ColumnData::Numeric(q)) => {
                let p: Vec<u64> = p.iter().map(|v| v.to_bits()).collect();
                let q: Vec<u64> = q.iter().map(|v| v.to_bits()).collect();
                assert_eq!(p, q, "{}", x.name);
            }
            (ColumnData::Categorical(p), ColumnData::Categorical(q)) => {
                assert_eq!(p.dictionary, q.dictionary, "{} levels", x.name);
                assert_eq!(p.codes, q.codes, "{} codes", x.name);
            }
            (p, q) => assert_eq!(p, q, "{}", x.name),
        }
    }
}

/// Checks a file every way: direct and general, whole and streamed, on
/// one and three threads. Returns the direct read's report.
fn check_file(path: &Path) -> DecodeReport {
    let (general, general_report) = read(path, 1, Path_::General);
    assert_eq!(general_report.direct, 0);
    let (direct, report) = read(path, 1, Path_::Direct);
    assert_same(&direct, &general);
    let (direct3, report3) = read(path, 3, Path_::Direct);
    assert_same(&direct3, &general);
    assert_eq!(report3, report);
    let (general3, _) = read(path, 3, Path_::General);
    assert_same(&general3, &general);
    assert_same(&streamed(path, Path_::Direct), &general);
    assert_same(&streamed(path, Path_::General), &general);
    report
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parquet")
        .join(name)
}

#[test]
fn generated_data_reads_the_same_directly() {
    let frame = generate_all(GeneratorConfig {
        rows: 9_000,
        seed: 11,
        ..GeneratorConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("g.parquet");
    let cols: Vec<(String, ColumnType)> = frame
        .columns()
        .iter()
        .map(|c| (c.name.clone(), c.column_type()))
        .collect();
    // Uneven row groups, so validity bits start off word boundaries.
    let mut w = TableWriter::create(&pq, &cols).unwrap();
    let mut at = 0;
    for n in [4_000, 3_333, 1_667] {
        w.write(&frame.slice(at, n)).unwrap();
        at += n;
    }
    w.finish().unwrap();
    let nulls: usize = frame
        .columns()
        .iter()
        .map(|c| c.validity.as_ref().map_or(0, Bitmap::count_zeros))
        .sum();
    assert!(nulls > 0, "the generator's nulls are part of the check");

    let report = check_file(&pq);
    // Every chunk of a file fathom wrote is decoded directly.
    assert_eq!(report.general, 0);
    assert_eq!(report.direct, 3 * frame.num_columns());
    let (direct, _) = read(&pq, 2, Path_::Direct);
    for (x, y) in direct.columns().iter().zip(frame.columns()) {
        for i in (0..frame.num_rows()).step_by(97) {
            assert_eq!(x.display_value(i), y.display_value(i), "{} row {i}", x.name);
        }
    }
}

#[test]
fn pyarrow_snappy_without_dictionaries_reads_the_same_directly() {
    let report = check_file(&fixture("pyarrow_snappy_plain.parquet"));
    assert_eq!(report.general, 0, "plain Snappy pages are decoded directly");
    assert_eq!(report.direct, 3 * 10);
}

#[test]
fn pyarrow_dictionaries_in_v2_pages_read_the_same_directly() {
    let path = fixture("pyarrow_snappy_dictionary_v2.parquet");
    let report = check_file(&path);
    assert_eq!(report.general, 0);
    assert_eq!(report.direct, 3 * 10);
    let (f, _) = read(&path, 2, Path_::Direct);
    // Text read as strings: levels numbered by first appearance across
    // row groups whose dictionaries differ.
    let Some(ColumnData::Categorical(city)) = f.column("city").map(|c| &c.data) else {
        panic!("city is categorical");
    };
    assert_eq!(
        city.dictionary.as_slice(),
        ["Lisbon", "Oslo", "Quito", "Accra", "Hanoi"]
    );
    let nothing = f.column("nothing").unwrap();
    assert_eq!(nothing.validity.as_ref().unwrap().count_ones(), 0);
}

#[test]
fn all_null_columns_read_the_same_directly() {
    let n = 1_000;
    let none = Some(Bitmap::new(n, false));
    let frame = Frame::new(vec![
        Column::numeric("x", vec![f64::NAN; n]),
        Column::new(
            "c",
            ColumnData::Categorical(fathom_core::CategoricalData {
                codes: vec![0; n],
                dictionary: std::sync::Arc::new(Vec::new()),
            }),
            none.clone(),
        ),
        Column::new("b", ColumnData::Bool(vec![false; n]), none.clone()),
        Column::new("t", ColumnData::Timestamp(vec![0; n]), none),
        Column::numeric("present", (0..n).map(|i| i as f64).collect()),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("nulls.parquet");
    write_frame(&pq, &frame).unwrap();
    let report = check_file(&pq);
    assert_eq!(report.general, 0);
    let (f, _) = read(&pq, 1, Path_::Direct);
    for name in ["x", "c", "b", "t"] {
        let col = f.column(name).unwrap();
        assert_eq!(col.validity.as_ref().unwrap().count_ones(), 0, "{name}");
    }
    assert!(f.column("present").unwrap().validity.is_none());
}

#[test]
fn row_groups_with_differing_dictionaries_read_the_same_directly() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("d.parquet");
    let cols = [
        ("c".to_string(), ColumnType::Categorical),
        ("n".to_string(), ColumnType::Numeric),
    ];
    let mut w = TableWriter::create(&pq, &cols).unwrap();
    let groups: [&[&str]; 4] = [
        &["red", "green"],
        &["blue", "red"],
        &["violet"],
        &["green", "amber", "blue", "red"],
    ];
    let mut expected = Vec::new();
    for (g, levels) in groups.iter().enumerate() {
        let n = 150 + 61 * g;
        let names: Vec<&str> = (0..n).map(|i| levels[(i / 2) % levels.len()]).collect();
        let mut c = Column::categorical("c", &names);
        if g % 2 == 0 {
            c.validity = Some(Bitmap::from_bools(
                &(0..n).map(|i| i % 9 != 4).collect::<Vec<_>>(),
            ));
        }
        // Few distinct numbers, so the numeric column is dictionary-encoded too.
        let x = Column::numeric("n", (0..n).map(|i| ((i + g) % 4) as f64).collect());
        let f = Frame::new(vec![c, x]).unwrap();
        w.write(&f).unwrap();
        expected.push(f);
    }
    w.finish().unwrap();
    let report = check_file(&pq);
    assert_eq!(report.general, 0);
    assert_eq!(report.direct, 8);
    let (f, _) = read(&pq, 3, Path_::Direct);
    let Some(ColumnData::Categorical(c)) = f.column("c").map(|c| &c.data) else {
        panic!("c is categorical");
    };
    assert_eq!(
        c.dictionary.as_slice(),
        ["red", "green", "blue", "violet", "amber"]
    );
    let expected = Frame::concat(&expected).unwrap();
    for (x, y) in f.columns().iter().zip(expected.columns()) {
        assert_eq!(x.validity, y.validity);
        for i in 0..f.num_rows() {
            assert_eq!(x.display_value(i), y.display_value(i), "{} row {i}", x.name);
        }
    }
}

#[test]
fn a_corrupt_column_chunk_is_an_error_naming_file_row_group_and_column() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let frame = generate_all(GeneratorConfig {
        rows: 3_000,
        seed: 5,
        ..GeneratorConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("bad.parquet");
    let cols: Vec<(String, ColumnType)> = frame
        .columns()
        .iter()
        .map(|c| (c.name.clone(), c.column_type()))
        .collect();
    let mut w = TableWriter::create(&pq, &cols).unwrap();
    w.write(&frame.slice(0, 1_500)).unwrap();
    w.write(&frame.slice(1_500, 1_500)).unwrap();
    w.finish().unwrap();
    let (start, name) = {
        let reader = SerializedFileReader::new(std::fs::File::open(&pq).unwrap()).unwrap();
        let chunk = reader.metadata().row_group(1).column(3);
        (
            chunk.byte_range().0,
            chunk.column_descr().name().to_string(),
        )
    };
    let mut bytes = std::fs::read(&pq).unwrap();
    let at = start as usize;
    bytes[at..at + 24].fill(0xff);
    std::fs::write(&pq, &bytes).unwrap();
    for how in [Path_::Direct, Path_::General] {
        let mut reader = ParquetReader::open(&pq, &ReadOptions::default()).unwrap();
        if let Path_::General = how {
            reader = reader.decode_generally();
        }
        let e = reader.read_all().unwrap_err().to_string();
        assert!(
            e.contains("bad.parquet: not a readable Parquet file"),
            "{e}"
        );
        assert!(e.contains(&format!("row group 1, column {name}")), "{e}");
    }
    let e = read_frame(&pq, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("write it again"), "{e}");
}
