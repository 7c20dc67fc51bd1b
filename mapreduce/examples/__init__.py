"""Jobs to copy, simplest first (`emrlab examples NAME` runs one).

    wordcount.py      how many times each word appears
    grep.py           the matches of a regular expression, most frequent first
    invertedindex.py  for every word, the input files it appears in
    join.py           a reduce-side inner join of two inputs
    sort.py           the input's lines in one total order across all reducers
"""
