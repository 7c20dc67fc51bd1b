from mapreduce import Job


class SortedValues(Job):
    SORT_VALUES = True

    def mapper(self, key, line):
        name, number = line.split()
        yield name, int(number)

    def reducer(self, name, numbers):
        yield name, list(numbers)
