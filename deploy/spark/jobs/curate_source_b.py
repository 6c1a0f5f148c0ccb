"""A raw day of source B (CSV customer extracts) → curated.source_b: Spark's curateDay for source B
(lib/curate/curate-day.ts, lib/curate/source-b.ts), the same rows, rejected records and lineage.

  curate_source_b.py --input '{"ingestDay": "2021-10-04", "timestampField": "updated_at",
      "files": [{"rawKey": "raw/source_b/day=2021-10-04/customers_2021-10-04.csv",
                 "location": "/…/lake/raw/source_b/day=2021-10-04/customers_2021-10-04.csv"}],
      "lineage": {"workflowId": "…", "runId": "…", "inputs": [{"key": "…", "sha256": "…"}]}}'

``location``: where Spark reads the file (a local path or ``file://`` URL, or ``s3://bucket/key``
read through s3a); ``rawKey``: what ``_raw_key`` and the rejected records name.

What DuckDB does, and so this job: a file's first line is its header, read as plain text (a BOM
dropped, split on commas, each name trimmed and one surrounding quote dropped); a header without
customer_id, name, email, region, segment and signup_date is bad input (BadInputError, exit 2,
"<rawKey>: header lacks … (found …)", MalformedFileError's words). The timestamp column
(``timestampField``) is optional. Every later line that is not empty is a record and lands in
exactly one place:

- Lines DuckDB's CSV reader rejects (its reject table, one row kept per line): a value with text
  after its closing quote ("Value with unterminated quote found."), or too few or too many values
  ("Expected Number of Columns: N Found: n": n is the values found when too few, N + 1 when too
  many; trailing empty values beyond N are dropped, not counted). ``line`` is the physical line
  number (the header is line 1), ``record`` DuckDB's ``csv_line``: the line, after the line
  breaks DuckDB's reader puts before it (it starts the text at the previous record's end, so
  blank lines before the line show as "\\n" each — one fewer after the header or a line with an
  unterminated-quote error — and in a CR LF file the previous line's "\\n" and "\\r\\n" per blank
  line; reproduced here).
- The others are parsed rows, numbered 1, 2, … in file order (DuckDB's ``row_number() OVER ()``
  over the reader's rows): that ordinal is ``line`` for their rejected records and ``_raw_line``
  for curated rows. Rejected, first reason first: "missing customer_id" (NULL or only Unicode
  space-separators, DuckDB's trim), "signup_date is not a date: <text or null>", "<timestampField>
  is not a timestamp: <text>"; the record is customer_id, name, email, region, segment,
  signup_date and the timestamp (when the file has one) joined by commas, NULLs left out
  (concat_ws). Curated otherwise: ``day`` is the timestamp's UTC date, or the ingestion day
  without one.

CSV fields as DuckDB reads them (strict mode, quote and escape ``"``): a value is quoted when it
starts with ``"`` or one space and ``"``; ``""`` inside is one quote, spaces after the closing
quote are dropped, other text after it is the unterminated-quote error; an unquoted value is
taken as it is (quotes inside it are text). An empty value, quoted or not, is NULL. Dates and
timestamps are parsed with DuckDB's own grammar (its casts to DATE and TIMESTAMPTZ, session time
zone UTC): years of any digit count, separators ``-`` ``/`` `` `` ``\\``, one- or two-digit
month and day, " (BC)", text after a date (not a digit) ignored by the DATE cast, "epoch";
times H:M:S[.fraction] (hours up to 24:00:00), offsets Z, ±HH, ±HH:MM, ±HHMM, ±HH:MM:SS.

Files whose lines DuckDB cannot read make the whole job fail as bad input (BadInputError,
"<rawKey> is not readable as its source's format: line n: …"), as the DuckDB path fails with
MalformedFileError: bytes that are not UTF-8, a carriage return in a file whose first line ends
with LF alone (its reader's line break, detected from the first), a line not ending in CR LF in a
file whose first does, a line over DuckDB's maximum line size (2,000,000 bytes), a unit
separator (0x1F, the delimiter of its header read). So does a header naming a column twice
(letter case ignored) or an empty column.

The rows replace ``_ingest_day = ingestDay`` in ONE commit, then the ingestion's rejected
records are replaced and one lineage row (scope ``_ingest_day=<ingestDay>``) appended, as
publishPartition does. Curated + rejected must equal the records (non-empty lines after the
header) counted in a separate pass, or nothing is committed. Returns ``{rows, rejected, retries,
records, lines}``.

Line numbers without a single-threaded read: as in curate_source_a.py, each line carries its
file, the start of the file block it was read from and ``monotonically_increasing_id``, which
counts up by one per line within a task; a block is read whole by one task.

Known differences from DuckDB, all on input the sources do not send:
- A quoted value holding a line break (a record over several lines, or a quote never closed):
  DuckDB reads the record across the lines; this job fails the file as bad input.
- DuckDB's header read (one plain-text column) fails the whole file on bad UTF-8, a stray CR, a
  0x1F byte or an overlong line, but it reads only the first rows of a large file (a bad byte 30
  MB into a 31 MB file got past it). Past them, DuckDB's CSV read rejects just that line for bad
  UTF-8 ("Invalid unicode …") or an overlong line, and reads a 0x1F byte as text; this job fails
  the file as bad input wherever they are. A stray CR fails DuckDB's CSV read too, except inside
  quotes (part of the value, past the header read), right after a comma or a single leading
  space (the record ends there) or right after a closing quote (the line is rejected, unterminated
  quote): this job fails the file for those as well.
- A file whose lines end in CR alone: DuckDB takes CR as its line break and reads it; this job
  fails it as bad input.
- Two or more values with text after their closing quote on one line: DuckDB's reject row then
  carries a wrong text (an earlier line's, or a fragment of the line); this job gives the line.
- In a CR LF file, DuckDB's ``csv_line`` lacks the leading "\\n" for a line where its scanner
  starts a new buffer (one line about 10 MB into a 39 MB test file); this job adds it as for every
  other line.
- A time zone name after a timestamp (" UTC", " Europe/Paris"): DuckDB converts it (and, a bug,
  goes on applying that zone to later values of the same vector that carry none); this job
  rejects the value as not a timestamp. So are "infinity", "-infinity" and "inf" (DuckDB: an
  infinite date or timestamp) and years beyond ±280,000 (DuckDB: up to 5,881,580 for a date,
  294,247 for a timestamp).
- A header naming a column twice or an empty column: DuckDB fails with a Binder Error, which the
  activity retries; this job fails as bad input (no retry will fix it).
"""

import sys
import time

import tempolake_spark  # first: it records when Python started

# The job's own modules beside it: no __pycache__ folder written into the jobs folder.
sys.dont_write_bytecode = True

from pyspark import StorageLevel  # noqa: E402
from pyspark.sql import Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from tempolake_job import BadInputError, check_day, check_files, check_lineage, day_lit, job_input, log, raw_lines, readable  # noqa: E402
from tempolake_publish import ensure_tables, replace_scope  # noqa: E402

SOURCE = "source_b"
TABLE = "curated.source_b"
REQUIRED = ("customer_id", "name", "email", "region", "segment", "signup_date")
UNTERMINATED = "Value with unterminated quote found."

# JavaScript's String.prototype.trim (the header's names are trimmed in TypeScript).
JS_SPACE = "\t\n\u000b\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"

# --- CSV fields, as DuckDB's strict state machine reads a line (quote = escape = '"') ----------
# A field: quoted (one optional leading space, '"', quoted text with '"'-escapes — a closing quote,
# spaces and another quote continue it — then, after the closing quote, anything up to the next
# comma: spaces are fine, other text is the unterminated-quote error), or unquoted (up to the
# next comma). Possessive: no backtracking, as a state machine reads. Applied to ',' + line.
FIELDS = r'\G,( ?"[^"]*+(?:" *+"[^"]*+)*+(?:"[^,]*+)?|[^,]*+)'
QUOTED = r'^ ?"'
QUOTED_OK = r'^ ?"[^"]*+(?:" *+"[^"]*+)*+" *+\z'
# The quote never closes on this line: the record would go on over the next.
QUOTED_OPEN = r'^ ?"[^"]*+(?:" *+"[^"]*+)*+\z'
QUOTED_TEXT = r'(?s)^ ?"(.*)" *\z'

# --- DuckDB's casts VARCHAR → DATE and → TIMESTAMPTZ (Date::TryConvertDate non-strict,
# Timestamp::TryConvertTimestampTZ, Time::TryConvertInternal, TryParseUTCOffset; DuckDB 1.5) ----
_S = r"[ \t\n\x0B\f\r]"  # StringUtil::CharacterIsSpace
_DATE = rf"{_S}*(?<neg>-?)(?<y>\d+)(?<sep>[-/ \\])(?<m>\d{{1,2}})\k<sep>(?<d>\d{{1,2}})(?<bc>{_S}\([bB][cC]\))?(?!\d)"
_OFFSET = r"(?<os>[+-])(?<oh>\d\d)(?::(?:(?<om>\d\d)(?::(?<osec>\d\d)?)?)?|(?<om2>\d\d))?"
# Hours, minutes and seconds, then Z, an offset or a space (a zone name: not supported), then spaces.
_TIME = rf"{_S}*(?<hh>\d{{1,9}}):(?<mi>\d{{1,2}}):(?<ss>\d{{1,2}})(?:\.(?<frac>\d*))?(?:(?:Z|{_OFFSET}){_S}*| {_S}*)?"
# "H:", "H:M" or "H:M:" — nothing may follow.
_TIME_SHORT = rf"{_S}*(?<hh2>\d{{1,9}}):(?:(?<mi2>\d{{1,2}}):?)?"
DATE_PATTERN = rf"^{_DATE}"
DATE_GROUPS = rf"^{_DATE}(?s:.*)\z"
TIMESTAMP_PATTERN = rf"^{_DATE}(?:[ T]?(?:{_TIME}|{_TIME_SHORT}))?\z"
EPOCH = rf"^{_S}*-?(?i:epoch){_S}*\z"
# The shapes the sources send, where Spark's own cast reads exactly what DuckDB's does (no 24:00,
# no year before 1000): cast by Spark, the grammar above left for the rest.
FAST_DATE = r"^[1-9]\d{3}-\d\d-\d\d\z"
FAST_TIMESTAMP = r"^[1-9]\d{3}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\dZ\z"
_SEP = "\u0001"
DATE_PARTS = ["neg", "y", "m", "d", "bc"]
TIMESTAMP_PARTS = DATE_PARTS + ["hh", "mi", "ss", "frac", "os", "oh", "om", "osec", "om2", "hh2", "mi2"]
# Years beyond this are refused (no arithmetic here can overflow a timestamp's microseconds).
MAX_YEAR = 280_000
# DuckDB's read_csv max_line_size default: its header read fails on a longer line.
MAX_LINE_BYTES = 2_000_000
MICROS_PER_DAY = 86_400_000_000


def ends_with_newline(spark, location):
    """Whether the file's last byte is a LF (its last line is then terminated), through Hadoop's file system."""
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(readable(location))
    fs = path.getFileSystem(spark._jsc.hadoopConfiguration())
    size = fs.getFileStatus(path).getLen()
    if size == 0:
        return False
    stream = fs.open(path)
    try:
        stream.seek(size - 1)
        return stream.read() == 0x0A
    finally:
        stream.close()


def header_of(raw_key, first):
    """(crlf, names) of a file whose first line (as Spark read it, a BOM dropped) is ``first``, as
    stageSourceB reads its header; BadInputError for a header DuckDB cannot use."""
    line = first or ""
    crlf = line.endswith("\r")
    if crlf:
        line = line[:-1]
    problem = (
        "a carriage return inside the header (lines ending in CR alone are not read here)"
        if "\r" in line
        else f"a line longer than DuckDB's maximum line size ({MAX_LINE_BYTES} bytes)"
        if len(line.encode("utf-8")) > MAX_LINE_BYTES
        else "a unit separator (0x1F), the delimiter of DuckDB's header read"
        if "\x1f" in line
        else None
    )
    if problem:
        raise BadInputError(f"{raw_key} is not readable as its source's format: line 1: {problem}")
    if line.startswith("\ufeff"):
        line = line[1:]
    names = []
    for h in line.split(","):
        h = h.strip(JS_SPACE)
        if h.startswith('"'):
            h = h[1:]
        if h.endswith('"'):
            h = h[:-1]
        names.append(h)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise BadInputError(f"{raw_key}: header lacks {', '.join(missing)} (found {', '.join(names) or 'nothing'})")
    if "" in names:
        raise BadInputError(f"{raw_key}: header names an empty column (found {', '.join(names)})")
    folded = [n.lower() for n in names]
    twice = sorted({n for n in names if folded.count(n.lower()) > 1})
    if twice:
        raise BadInputError(f"{raw_key}: header names {', '.join(twice)} twice")
    return crlf, names


# --- Values -----------------------------------------------------------------------------------


def trim_spaces(col):
    """DuckDB's trim: Unicode space separators (category Zs) off both ends."""
    return F.regexp_replace(col, r"^\p{Zs}+|\p{Zs}+$", "")


def _number(text):
    return F.when(text != "", text.try_cast("long"))


def _civil_days(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (year 0 = 1 BC), as DuckDB counts them."""
    yy = y - F.when(m <= 2, 1).otherwise(0)
    era = ((yy - F.pmod(yy, F.lit(400))) / 400).cast("long")
    yoe = yy - era * 400
    mp = F.when(m > 2, m - 3).otherwise(m + 9)
    doy = F.floor((mp * 153 + 2) / 5) + d - 1
    doe = yoe * 365 + F.floor(yoe / 4) - F.floor(yoe / 100) + doy
    return era * 146097 + doe - 719468


def _days_in_month(y, m):
    leap = ((F.pmod(y, F.lit(4)) == 0) & (F.pmod(y, F.lit(100)) != 0)) | (F.pmod(y, F.lit(400)) == 0)
    return F.when(m == 2, F.when(leap, 29).otherwise(28)).when(m.isin(4, 6, 9, 11), 30).otherwise(31)


def _with_groups(df, src, tmp, pattern, names):
    """``df`` with the named groups of ``pattern`` (which must match the whole of ``src``) as
    columns ``tmp + name`` of text ('' when absent), and ``tmp + "match"``: whether it matches.
    One regex pass for all the groups."""
    parts = F.split(F.regexp_replace(src, pattern, _SEP.join("${" + n + "}" for n in names)), _SEP)
    # Replaced (so matched) exactly when the separators are the replacement's: the value has none.
    matched = (F.size(tmp + "parts") == len(names)) & ~F.col(src).contains(_SEP)
    epoch = F.lower(src).contains("epoch") & F.col(src).rlike(EPOCH)
    df = df.select("*", parts.alias(tmp + "parts")).select("*", matched.alias(tmp + "match"), epoch.alias(tmp + "epoch"))
    return df.select("*", *[F.try_element_at(tmp + "parts", F.lit(i + 1)).alias(tmp + n) for i, n in enumerate(names)])


def _date_days(tmp):
    """Days since the epoch of the date groups ``tmp*``, NULL when DuckDB finds no valid date in them."""
    g = lambda n: F.col(tmp + n)  # noqa: E731
    y = _number(g("y"))
    neg = g("neg") == "-"
    bc = g("bc") != ""
    signed = F.when(neg, -y).otherwise(y)
    year = F.when(bc, -signed + 1).otherwise(signed)
    m, d = _number(g("m")), _number(g("d"))
    # Clamped: the arithmetic below runs (and must not overflow) even where the date is invalid.
    yc = F.least(F.greatest(year, F.lit(-MAX_YEAR)), F.lit(MAX_YEAR))
    valid = (
        y.isNotNull()
        & ~(bc & (neg | (y == 0)))
        & year.between(-MAX_YEAR, MAX_YEAR)
        & m.between(1, 12)
        & (d >= 1)
        & (d <= _days_in_month(yc, m))
    )
    return F.when(valid, _civil_days(yc, m, d))


def _drop_tmp(df, tmp):
    return df.drop(*[c for c in df.columns if c.startswith(tmp)])


def with_duck_date(df, src, out):
    """``df`` with ``out``: try_cast(src AS DATE) as DuckDB casts it."""
    tmp = f"_{out}_"
    df = df.select("*", F.col(src).rlike(FAST_DATE).alias(tmp + "fast")).select("*", F.when(~F.col(tmp + "fast"), F.col(src)).alias(tmp + "src"))
    df = _with_groups(df, tmp + "src", tmp, DATE_GROUPS, DATE_PARTS)
    df = df.select("*", _date_days(tmp).alias(tmp + "days"))
    days = F.col(tmp + "days")
    date = (
        F.when(F.col(tmp + "fast"), F.col(src).try_cast("date"))
        .when(F.col(tmp + "epoch"), F.date_from_unix_date(F.lit(0)))
        .when(F.col(tmp + "match") & days.isNotNull(), F.date_from_unix_date(days))
    )
    return _drop_tmp(df.select("*", date.alias(out)), tmp)


def with_duck_timestamp(df, src, out):
    """``df`` with ``out``: try_cast(src AS TIMESTAMPTZ) as DuckDB casts it with TimeZone UTC (no
    time zone names)."""
    tmp = f"_{out}_"
    df = df.select("*", F.col(src).rlike(FAST_TIMESTAMP).alias(tmp + "fast")).select("*", F.when(~F.col(tmp + "fast"), F.col(src)).alias(tmp + "src"))
    df = _with_groups(df, tmp + "src", tmp, TIMESTAMP_PATTERN, TIMESTAMP_PARTS)
    g = lambda n: F.col(tmp + n)  # noqa: E731
    full, short = g("hh") != "", g("hh2") != ""
    hour, minute, second = (F.least(_number(g(n)), F.lit(100)) for n in ("hh", "mi", "ss"))
    hour_short, minute_short = F.least(_number(g("hh2")), F.lit(100)), F.coalesce(_number(g("mi2")), F.lit(0))
    fraction = F.rpad(F.substring(g("frac"), 1, 6), 6, "0").cast("long")
    time = (
        F.when(full, ((hour * 60 + minute) * 60 + second) * 1_000_000 + fraction)
        .when(short, (hour_short * 60 + minute_short) * 60 * 1_000_000)
        .otherwise(F.lit(0))
    )
    time_ok = F.when(full, (minute < 60) & (second < 60)).when(short, minute_short < 60).otherwise(True)
    offset_minutes = F.coalesce(_number(g("om")), _number(g("om2")), F.lit(0))
    offset = F.when(
        g("os") != "",
        F.when(g("os") == "-", -1).otherwise(1)
        * ((_number(g("oh")) * 60 + offset_minutes) * 60 + F.coalesce(_number(g("osec")), F.lit(0)))
        * 1_000_000,
    ).otherwise(F.lit(0))
    df = df.select("*", _date_days(tmp).alias(tmp + "days"), time.alias(tmp + "time"), time_ok.alias(tmp + "time_ok"), offset.alias(tmp + "offset"))
    days, time = g("days"), g("time")
    ok = g("match") & days.isNotNull() & g("time_ok") & (time <= MICROS_PER_DAY)
    timestamp = (
        F.when(g("fast"), F.col(src).try_cast("timestamp"))
        .when(g("epoch"), F.timestamp_micros(F.lit(0)))
        .when(ok, F.timestamp_micros(days * MICROS_PER_DAY + time - g("offset")))
    )
    return _drop_tmp(df.select("*", timestamp.alias(out)), tmp)


def csv_fields(text):
    """The raw fields of a line (quotes and all): a plain split when it holds no quote."""
    return F.when(text.contains('"'), F.regexp_extract_all(F.concat(F.lit(","), text), F.lit(FIELDS), F.lit(1))).otherwise(
        F.split(text, ",", -1)
    )


def field_value(f):
    """A raw field's value: quoted → its text with '""' as '"' (and lone quotes dropped, as DuckDB's
    RemoveEscape does); '' → NULL. A field with text after its closing quote keeps its raw text."""
    quoted = f.contains('"') & f.rlike(QUOTED)
    inner = F.regexp_extract(f, QUOTED_TEXT, 1)
    return (
        F.when(quoted & ~f.rlike(QUOTED_OK), f)
        .when(quoted, F.when(inner != "", F.regexp_replace(inner, '"("?)', "$1")))
        .otherwise(F.when(f != "", f))
    )


def junk_field(f):
    """Text after a closing quote: DuckDB's unterminated-quote error."""
    return f.contains('"') & f.rlike(QUOTED) & ~f.rlike(QUOTED_OK) & ~f.rlike(QUOTED_OPEN)


def parsed_lines(numbered):
    """Each line after a header: its fields' values, its CSV-level reason (DuckDB's reject table's
    message, NULL for a parsed row; meaningless for an empty line, which is no record) and whether
    its last field's quote stays open."""
    fields = csv_fields(F.col("text"))
    with_fields = numbered.select("*", fields.alias("fields"))
    n = F.size("fields")
    big_n = F.col("n_cols")
    junk = F.when(
        F.col("text").contains('"'), F.array_position(F.transform("fields", junk_field), True)
    ).otherwise(F.lit(0))
    values = F.transform("fields", field_value)
    return with_fields.select(
        "*",
        values.alias("vals"),
        junk.alias("junk_at"),
        (F.col("text").contains('"') & F.element_at("fields", -1).rlike(QUOTED_OPEN)).alias("open_quote"),
    ).select(
        "*",
        F.when(
            (F.col("junk_at") > 0)
            & (
                (F.col("junk_at") <= big_n)
                | F.forall(F.slice("vals", big_n + 1, F.greatest(F.col("junk_at") - big_n - 1, F.lit(0))), lambda v: v.isNull())
            ),
            F.lit(UNTERMINATED),
        )
        .when(n < big_n, F.format_string("Expected Number of Columns: %d Found: %d", big_n, n))
        .when(
            (n > big_n) & F.exists(F.slice("vals", big_n + 1, F.greatest(n - big_n, F.lit(0))), lambda v: v.isNotNull()),
            F.format_string("Expected Number of Columns: %d Found: %d", big_n, big_n + 1),
        )
        .alias("csv_reason"),
    )


def stage(spark, files, timestamp_field):
    """What stageSourceB puts in ``staged_b``, for all the files: (raw_key, line, reason, record,
    customer_id, name, email, region, segment, signup_date, updated_at); reason NULL: a curated
    row. Returns (staged, records, physical lines, parsed): ``staged`` and the ``parsed`` lines it
    reads are persisted, for the caller to unpersist. BadInputError for a file DuckDB's path would
    refuse."""
    started = time.time()
    lines = raw_lines(spark, files)
    # Pass 1, no CSV parsed: per block its first id, lines and empty lines, and its first line.
    blank = (F.col("value") == "") | (F.col("value") == "\r")
    blocks = (
        lines.groupBy("raw_key", "block")
        .agg(
            F.min("id").alias("first_id"),
            F.count(F.lit(1)).alias("lines"),
            F.count_if(blank).alias("blank"),
            F.min_by("value", "id").alias("first"),
            F.min_by(F.is_valid_utf8("value"), "id").alias("first_utf8"),
        )
        .collect()
    )
    offsets, before, first = [], {}, {}
    for b in sorted(blocks, key=lambda b: (b["raw_key"], b["block"])):
        offset = before.get(b["raw_key"], 0)
        offsets.append((b["raw_key"], b["block"], b["first_id"], offset))
        before[b["raw_key"]] = offset + b["lines"]
        first.setdefault(b["raw_key"], b)
    physical_lines = sum(before.values())
    # Records: the non-empty lines after each file's header.
    records = sum(b["lines"] - b["blank"] for b in blocks) - sum(1 for n in before.values() if n > 0)

    meta = []
    for f in files:
        key = f["rawKey"]
        head = first.get(key)
        if head is not None and not head["first_utf8"]:
            raise BadInputError(f"{key} is not readable as its source's format: line 1: bytes that are not UTF-8")
        crlf, names = header_of(key, head["first"] if head is not None else None)
        column = {n: i + 1 for i, n in enumerate(names)}
        meta.append(
            (key, crlf, len(names), before.get(key, 0), ends_with_newline(spark, f["location"]))
            + tuple(column[c] for c in REQUIRED)
            + (column.get(timestamp_field),)
        )
    meta_df = spark.createDataFrame(
        meta,
        "raw_key string, crlf boolean, n_cols int, total_lines long, ends_nl boolean, " + ", ".join(f"i_{c} int" for c in REQUIRED) + ", i_ts int",
    )
    log(f"{len(files)} file(s), {physical_lines} lines, {records} records (counted in {time.time() - started:.1f} s)")

    offsets_df = spark.createDataFrame(offsets, "raw_key string, block long, first_id long, line_offset long")
    raw = F.col("value")
    ends_cr = raw.endswith("\r")
    line = F.col("line_offset") + F.col("id") - F.col("first_id") + 1
    numbered = (
        lines.join(F.broadcast(offsets_df), ["raw_key", "block"])
        .join(F.broadcast(meta_df), "raw_key")
        .select(
            "raw_key", "block", "id", "value", "crlf", "n_cols", "total_lines", "ends_nl", *[f"i_{c}" for c in REQUIRED], "i_ts",
            line.alias("line"),
            F.when(F.col("crlf") & ends_cr, F.expr("substring(value, 1, char_length(value) - 1)")).otherwise(raw).alias("text"),
        )
        .where(F.col("line") > 1)
        .select(
            "*",
            F.when(~F.is_valid_utf8(raw), F.lit("bytes that are not UTF-8"))
            .when(
                F.col("crlf") & ~ends_cr & ~((F.col("line") == F.col("total_lines")) & ~F.col("ends_nl")),
                F.lit("a line ending in LF alone in a file whose lines end in CR LF"),
            )
            .when(F.col("text").contains("\r"), F.lit("a carriage return inside a line"))
            .when(F.octet_length("text") > MAX_LINE_BYTES, F.lit(f"a line longer than DuckDB's maximum line size ({MAX_LINE_BYTES} bytes)"))
            .when(F.col("text").contains("\x1f"), F.lit("a unit separator (0x1F), the delimiter of DuckDB's header read"))
            .alias("problem"),
        )
        .drop("value", "total_lines", "ends_nl")
    )
    # Parsed once (empty lines too, unparsed): the checks, the ordinals, the rows and the rejected
    # records all read this.
    parsed = parsed_lines(numbered).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        # Pass 2: lines DuckDB cannot read at all, and the parsed rows per block (for their ordinals).
        nonblank = F.col("text") != ""
        problem = F.coalesce("problem", F.when(nonblank & F.col("open_quote"), F.lit("a quoted value runs past the end of its line")))
        problem_line = F.when(problem.isNotNull(), F.col("line"))
        checks = (
            parsed.groupBy("raw_key", "block")
            .agg(
                F.min(problem_line).alias("problem_line"),
                F.min_by(problem, problem_line).alias("problem"),
                F.count_if(nonblank & F.col("csv_reason").isNull()).alias("rows"),
            )
            .collect()
        )
        log(f"lines parsed and checked in {time.time() - started:.1f} s")
        found = {}
        for c in checks:
            if c["problem_line"] is not None and (c["raw_key"] not in found or c["problem_line"] < found[c["raw_key"]][0]):
                found[c["raw_key"]] = (c["problem_line"], c["problem"])
        for f in files:
            if f["rawKey"] in found:
                at, what = found[f["rawKey"]]
                raise BadInputError(f"{f['rawKey']} is not readable as its source's format: line {at}: {what}")

        ordinal_offsets, rows_before = [], {}
        for c in sorted(checks, key=lambda c: (c["raw_key"], c["block"])):
            ordinal_offsets.append((c["raw_key"], c["block"], rows_before.get(c["raw_key"], 0)))
            rows_before[c["raw_key"]] = rows_before.get(c["raw_key"], 0) + c["rows"]
        ordinal_df = spark.createDataFrame(ordinal_offsets, "raw_key string, block long, ordinal_offset long")

        # Parsed rows, numbered in file order (DuckDB's row_number() OVER ()), and their values' checks.
        def value_of(index):
            return F.try_element_at("vals", F.col(index))

        in_block = Window.partitionBy("raw_key", "block").orderBy("id")
        rows = parsed.where(nonblank & F.col("csv_reason").isNull()).join(F.broadcast(ordinal_df), ["raw_key", "block"]).select(
            "raw_key",
            (F.col("ordinal_offset") + F.row_number().over(in_block)).alias("line"),
            *[value_of(f"i_{c}").alias(c) for c in REQUIRED],
            value_of("i_ts").alias("ts"),
        )
        rows = with_duck_timestamp(with_duck_date(rows, "signup_date", "signup"), "ts", "updated_at")
        cid, signup, ts = F.col("customer_id"), F.col("signup_date"), F.col("ts")
        reason = (
            F.when(cid.isNull() | (trim_spaces(cid) == ""), F.lit("missing customer_id"))
            .when(F.col("signup").isNull(), F.concat(F.lit("signup_date is not a date: "), F.coalesce(signup, F.lit("null"))))
            .when(ts.isNotNull() & (trim_spaces(ts) != "") & F.col("updated_at").isNull(), F.concat(F.lit(f"{timestamp_field} is not a timestamp: "), ts))
        )
        rows = rows.select(
            "raw_key",
            "line",
            reason.alias("reason"),
            F.concat_ws(",", cid, "name", "email", "region", "segment", signup, ts).alias("record"),
            "customer_id", "name", "email", "region", "segment",
            F.col("signup").alias("signup_date"),
            "updated_at",
        )

        # Lines the CSV reader rejects, with the text DuckDB's reject table gives them: the line
        # breaks since the previous line that is not empty, as the docstring says.
        csv_rejects = parsed.where(nonblank & F.col("csv_reason").isNotNull()).select("raw_key", "line", "csv_reason", "text", "crlf")
        runs = (
            parsed.where(~nonblank)
            .select("raw_key", "line", (F.col("line") - F.row_number().over(Window.partitionBy("raw_key").orderBy("line"))).alias("run"))
            .groupBy("raw_key", "run")
            .agg((F.max("line") + 1).alias("line"), F.count(F.lit(1)).alias("blank_before"))
            .drop("run")
        )
        unterminated = csv_rejects.where(F.col("csv_reason") == UNTERMINATED).select(
            "raw_key", F.col("line").alias("previous"), F.lit(True).alias("after_unterminated")
        )
        k = F.col("blank_before")
        after_header = F.col("previous") == 1
        after_unterminated = F.coalesce("after_unterminated", F.lit(False))
        newline, crlf_lines = F.lit("\n"), F.repeat(F.lit("\r\n"), k.cast("int"))
        prefix = (
            F.when(~F.col("crlf"), F.repeat(newline, F.greatest(k - F.when(after_header | after_unterminated, 1).otherwise(0), F.lit(0)).cast("int")))
            .when(after_header, F.when(k == 0, F.lit("")).otherwise(F.concat(newline, F.repeat(F.lit("\r\n"), (k - 1).cast("int")))))
            .when(after_unterminated, crlf_lines)
            .otherwise(F.concat(newline, crlf_lines))
        )
        rejects = (
            csv_rejects.join(runs, ["raw_key", "line"], "left")
            .select("raw_key", "line", "csv_reason", "text", "crlf", F.coalesce("blank_before", F.lit(0)).alias("blank_before"))
            .select("*", (F.col("line") - 1 - F.col("blank_before")).alias("previous"))
            .join(unterminated, ["raw_key", "previous"], "left")
            .select("raw_key", "line", F.col("csv_reason").alias("reason"), F.concat(prefix, F.col("text")).alias("record"))
        )

        staged = rows.unionByName(rejects, allowMissingColumns=True).persist(StorageLevel.MEMORY_AND_DISK)
    except BaseException:
        parsed.unpersist()
        raise
    return staged, records, physical_lines, parsed


def main(spark, argv):
    value = job_input(argv, "curate_source_b.py")
    ingest_day = check_day(value.get("ingestDay"), "ingestDay")
    timestamp_field = value.get("timestampField", "updated_at")
    if not isinstance(timestamp_field, str) or not timestamp_field:
        raise BadInputError("timestampField must be a column name")
    files = check_files(value.get("files"))
    lineage = check_lineage(value.get("lineage"))
    ensure_tables(spark, [TABLE, "rejected.records", "lineage.commits"])

    staged, records, physical_lines, parsed = stage(spark, files, timestamp_field)
    try:
        curated = staged.where(F.col("reason").isNull()).select(
            "customer_id", "name", "email", "region", "segment", "signup_date", "updated_at",
            F.coalesce(F.col("updated_at").cast("date"), day_lit(ingest_day)).alias("day"),
            day_lit(ingest_day).alias("_ingest_day"),
            F.col("raw_key").alias("_raw_key"),
            F.col("line").alias("_raw_line"),
        )
        rejected = staged.where(F.col("reason").isNotNull()).select("raw_key", "line", "reason", "record")
        published = replace_scope(
            spark,
            table=TABLE,
            scope=F.col("_ingest_day") == day_lit(ingest_day),
            day_range=None,
            rows=curated,
            scope_text=f"_ingest_day={ingest_day}",
            ingest_day=ingest_day,
            lineage=lineage,
            rejected={"source": SOURCE, "rows": rejected},
            expected_records=records,
            cache_rows=False,
        )
    finally:
        staged.unpersist()
        parsed.unpersist()
    return {**published, "records": records, "lines": physical_lines}


if __name__ == "__main__":
    tempolake_spark.run_job(main, app_name="tempolake-curate_source_b")
