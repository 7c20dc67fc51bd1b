"""Which records a step reads and writes: text lines for the job's input and output,
msgpack (key, value) records between the steps of a multi-step job.

The runners' planning (`appmaster/plan.py`) sets both keys for every step; the
attempt (`attempt.py`) and the phases read them.
"""

INPUT_FORMAT_KEY = "emrlab.input.format"
OUTPUT_FORMAT_KEY = "emrlab.output.format"
TEXT_FORMAT = "text"
RECORDS_FORMAT = "msgpack"


def is_text_input(properties: dict) -> bool:
    return properties.get(INPUT_FORMAT_KEY, TEXT_FORMAT) == TEXT_FORMAT
