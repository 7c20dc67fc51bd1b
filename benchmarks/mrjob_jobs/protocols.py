"""Plain `key<TAB>value` lines out, as emrlab and Hadoop's TextOutputFormat write them."""


class TabProtocol:
    def read(self, line):
        key, _, value = line.decode("utf-8").partition("\t")
        return key, value

    def write(self, key, value):
        return "\t".join(str(part) for part in (key, value) if part is not None).encode("utf-8")


class LineProtocol:
    """A whole line as the key: mrjob's sort then orders lines by their bytes."""

    def read(self, line):
        return line.decode("utf-8"), None

    def write(self, key, value):
        return key.encode("utf-8")
