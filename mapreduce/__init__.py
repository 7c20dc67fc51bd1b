"""MapReduce: job API, runners, application master, map and reduce tasks, shuffle."""
