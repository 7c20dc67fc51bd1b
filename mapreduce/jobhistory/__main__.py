"""`python -m mapreduce.jobhistory --dir CLUSTER_DIR [-D key=value ...]`: run the JobHistory server."""

from dataclasses import dataclass

from emrlab_common.config import load, parse_text, setting
from emrlab_common.daemon import DaemonProcess
from emrlab_common.web import start_http_server
from mapreduce.appmaster.tracking import DAEMON_NAME
from mapreduce.jobhistory.web import JobHistoryWeb


@dataclass(frozen=True)
class JobHistoryConfig:
    webapp_address: str = setting(
        "mapreduce.jobhistory.webapp.address", "127.0.0.1:0", parse_text,
        "Where the JobHistory server's web pages listen (Hadoop: 0.0.0.0:19888); port 0 picks a free one.")


def main(argv: list[str] | None = None) -> None:
    with DaemonProcess.start("mapreduce.jobhistory", argv) as process:
        process.stop_when_a_thread_crashes()
        config = load(JobHistoryConfig, process.properties)
        http_server, http_port = start_http_server(config.webapp_address, JobHistoryWeb(process.cluster_dir).routes(),
                                                   name=DAEMON_NAME)
        address = f"{config.webapp_address.rsplit(':', 1)[0]}:{http_port}"
        process.publish(address, http_address=address)
        process.wait_for_stop()
        http_server.stop()


if __name__ == "__main__":
    main()
