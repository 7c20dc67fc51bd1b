"""mrjob steps emrlab cannot run: a JarStep and a SparkStep."""

from mrjob.job import MRJob
from mrjob.step import JarStep, SparkStep


class MRJarStep(MRJob):
    def steps(self):
        return [JarStep(jar="wordcount.jar")]


class MRSparkStep(MRJob):
    def spark(self, input_path, output_path):
        pass

    def steps(self):
        return [SparkStep(self.spark)]
