"""The benchmark's jobs written for Spark, as a Spark user would: the RDD API and the DataFrame API.

    python -m benchmarks.spark_jobs rdd|df JOB OUTPUT_DIR INPUT_FILE...

Prints one JSON line: {"startup_s": ..., "job_s": ...}: the SparkContext's
start (a JVM, in local[CPUs] mode) and the job itself, timed apart so that
the benchmark reports start-up separately. The RDD jobs run Python functions
in Python worker processes; the DataFrame jobs are compiled to JVM code, with
no Python per record.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

from benchmarks.jobs import GREP_PATTERN


def _rdd_wordcount(context, inputs, output):
    lines = context.textFile(",".join(inputs))
    counts = lines.flatMap(str.split).map(lambda word: (word, 1)).reduceByKey(lambda a, b: a + b)
    counts.map(lambda pair: f"{pair[0]}\t{pair[1]}").saveAsTextFile(output)


def _rdd_grep(context, inputs, output):
    pattern = GREP_PATTERN
    count = context.textFile(",".join(inputs)).filter(lambda line: re.search(pattern, line) is not None).count()
    context.parallelize([str(count)], 1).saveAsTextFile(output)


def _rdd_sort(context, inputs, output):
    # sortBy samples the keys and range-partitions them: TeraSort's plan.
    context.textFile(",".join(inputs)).sortBy(lambda line: line.encode("utf-8")).saveAsTextFile(output)


def _rdd_invertedindex(context, inputs, output):
    pairs = context.union([
        context.textFile(path).flatMap(lambda line, name=os.path.basename(path): ((word, name) for word in
                                                                                   set(line.lower().split())))
        for path in inputs])
    index = pairs.distinct().groupByKey().mapValues(lambda names: sorted(names))
    index.map(lambda pair: pair[0] + "\t" + json.dumps(pair[1], separators=(",", ":"))).saveAsTextFile(output)


def _df_wordcount(session, inputs, output):
    from pyspark.sql import functions as F

    words = session.read.text(inputs).select(F.explode(F.split("value", r"\s+")).alias("word"))
    counts = words.where(F.col("word") != "").groupBy("word").count()
    counts.select(F.concat_ws("\t", "word", F.col("count").cast("string"))).write.text(output)


def _df_grep(session, inputs, output):
    from pyspark.sql import functions as F

    count = session.read.text(inputs).where(F.col("value").rlike(GREP_PATTERN)).count()
    session.createDataFrame([(str(count),)], ["value"]).coalesce(1).write.text(output)


def _df_sort(session, inputs, output):
    # orderBy range-partitions by sampled boundaries; strings compare as UTF-8 bytes.
    session.read.text(inputs).orderBy("value").write.text(output)


def _df_invertedindex(session, inputs, output):
    from pyspark.sql import functions as F

    lines = session.read.text(inputs).select("value", F.substring_index(F.input_file_name(), "/", -1).alias("file"))
    words = lines.select(F.explode(F.split(F.lower("value"), r"\s+")).alias("word"), "file").where(F.col("word") != "")
    index = words.groupBy("word").agg(F.array_sort(F.collect_set("file")).alias("files"))
    index.select(F.concat_ws("\t", "word", F.to_json("files"))).write.text(output)


JOBS = {
    "rdd": {"wordcount": _rdd_wordcount, "grep": _rdd_grep, "sort": _rdd_sort, "invertedindex": _rdd_invertedindex},
    "df": {"wordcount": _df_wordcount, "grep": _df_grep, "sort": _df_sort, "invertedindex": _df_invertedindex},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("api", choices=list(JOBS))
    parser.add_argument("job", choices=list(JOBS["rdd"]))
    parser.add_argument("output_dir")
    parser.add_argument("inputs", nargs="+")
    options = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    session = (SparkSession.builder.master(f"local[{os.cpu_count() or 1}]").appName("emrlab-benchmark")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.pyspark.python", sys.executable).getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    startup_s = time.perf_counter() - started
    started = time.perf_counter()
    inputs = [os.path.abspath(path) for path in options.inputs]
    if options.api == "rdd":
        JOBS["rdd"][options.job](session.sparkContext, inputs, options.output_dir)
    else:
        JOBS["df"][options.job](session, inputs, options.output_dir)
    job_s = time.perf_counter() - started
    session.stop()
    print(json.dumps({"startup_s": startup_s, "job_s": job_s}))


if __name__ == "__main__":
    main()
