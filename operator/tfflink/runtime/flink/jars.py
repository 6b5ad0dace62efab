"""Where the JVM data plane's jars are, and a Flink lib/ directory that carries them.

Why a lib/ directory: jars on the Flink processes' own classpath load once per JVM through the
parent classloader. Shipped with each job instead (``pipeline.jars``), TensorFlow Java's 160 MB
would be uploaded per job, and its native library, loaded by a job's own classloader, could not
be loaded again by the next job (a full restart) in the same TaskManager. No PyFlink import here:
the local backend uses it before any Flink process runs.
"""

from __future__ import annotations

from pathlib import Path

JARS_DIR = Path(__file__).resolve().parents[2] / "jars"
DATAPLANE_JAR = JARS_DIR / "tfflink-dataplane.jar"
INFERENCE_JAR = JARS_DIR / "tfflink-inference.jar"
TF_JAVA_DIR = JARS_DIR / "tensorflow"  # TensorFlow Java and its native library for this platform


def built_jars() -> list[Path]:
    """Every jar of the JVM data plane that was built (``make jars``)."""
    return [p for p in (DATAPLANE_JAR, INFERENCE_JAR, *sorted(TF_JAVA_DIR.glob("*.jar"))) if p.is_file()]


def lib_dir(flink_home: Path, dest: Path) -> Path:
    """``dest`` made into Flink's lib/ plus the built jars (symlinks); for ``FLINK_LIB_DIR``."""
    dest.mkdir(parents=True, exist_ok=True)
    for jar in [*sorted((flink_home / "lib").glob("*.jar")), *built_jars()]:
        link = dest / jar.name
        if not link.is_symlink():
            link.symlink_to(jar)
    return dest
