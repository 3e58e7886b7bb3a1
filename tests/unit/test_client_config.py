"""client.properties as the Kafka tools read it (ingest/kafka/client_config.py): the format,
the mapping to kafka-python's arguments, config providers, refusals in one line that name
the key and never a value, and secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamoat.cli import main
from ingest.errors import ConfigError
from ingest.kafka import client_config
from ingest.kafka.client_config import (
    ENV_VAR,
    parse_properties,
    read_client_config,
    redact,
    use_client_config,
)

SECRET = "s3cr3t-Pa55"
SCRAM = (
    "org.apache.kafka.common.security.scram.ScramLoginModule required "
    f'username="alice" password="{SECRET}";'
)


@pytest.fixture(autouse=True)
def _no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(client_config, "_active", None)


def write(tmp_path: Path, text: str, name: str = "client.properties") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_properties_format() -> None:
    text = (
        "# a comment\n! another\n\n"
        "a=1\n"
        "b : two words \n"
        "c three\n"
        "d=first \\\n   second\n"
        "e\\=key=x\\ty\n"
        "f=\\u0041\n"
        "a=last wins\n"
    )
    assert parse_properties(text) == {
        "a": "last wins", "b": "two words ", "c": "three", "d": "first second",
        "e=key": "x\ty", "f": "A",
    }  # fmt: skip


def test_sasl_ssl_with_scram_and_a_pem_truststore(tmp_path: Path) -> None:
    ca = write(tmp_path, "-----BEGIN CERTIFICATE-----\n", "ca.pem")
    path = write(tmp_path, (
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
        f"sasl.jaas.config={SCRAM}\n"
        f"ssl.truststore.type=PEM\nssl.truststore.location={ca}\n"
    ))  # fmt: skip
    settings = read_client_config(path)
    assert settings.kwargs == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "alice", "sasl_plain_password": SECRET,
        "ssl_check_hostname": True, "ssl_cafile": str(ca),
    }  # fmt: skip
    assert settings.secrets == {SECRET}
    assert SECRET not in settings.describe() and "alice" in settings.describe()
    assert redact(f"oops {SECRET}!", settings) == "oops ******!"


def test_mutual_tls_with_a_pem_keystore(tmp_path: Path) -> None:
    ca = write(tmp_path, "x", "ca.pem")
    key = write(tmp_path, "x", "client.pem")
    path = write(tmp_path, (
        f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={ca}\n"
        f"ssl.keystore.type=PEM\nssl.keystore.location={key}\nssl.key.password={SECRET}\n"
        "ssl.endpoint.identification.algorithm=\n"
    ))  # fmt: skip
    k = read_client_config(path).kwargs
    assert k["ssl_certfile"] == str(key) and k["ssl_password"] == SECRET
    assert k["ssl_check_hostname"] is False


def test_secrets_from_config_providers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_PASSWORD", SECRET)
    secrets = write(tmp_path, "user=alice\n", "secrets.properties")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "mechanism").write_text("SCRAM-SHA-256\n")
    path = write(tmp_path, (
        "config.providers=env,file,dir\n"
        "config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider\n"
        "config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider\n"
        "config.providers.dir.class=org.apache.kafka.common.config.provider."
        "DirectoryConfigProvider\n"
        "security.protocol=SASL_PLAINTEXT\n"
        f"sasl.mechanism=${{dir:{tmp_path / 'dir'}:mechanism}}\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="${{file:{secrets}:user}}" password="${{env:KAFKA_PASSWORD}}";\n'
    ))  # fmt: skip
    settings = read_client_config(path)
    assert settings.kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert settings.kwargs["sasl_plain_username"] == "alice"
    assert settings.kwargs["sasl_plain_password"] == SECRET
    assert SECRET in settings.secrets


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("security.protocol=SASL_SSL\n", "sasl.mechanism GSSAPI is not supported"),
        ("security.protocol=SASL_SSL\nsasl.mechanism=OAUTHBEARER\n", "OAUTHBEARER"),
        ("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n", "needs sasl.jaas.config"),
        ("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
         f"sasl.jaas.config={SCRAM}\n", "needs org.apache.kafka.common.security.plain"),
        ("security.protocol=TLS\n", "security.protocol must be one of"),
        ("security.protocol=SSL\nssl.truststore.location=/nowhere.jks\n",
         "ssl.truststore.type is JKS"),
        (f"security.protocol=SSL\nssl.keystore.password={SECRET}\n", "a store password"),
        ("security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=/nope.pem\n",
         "is not a readable file"),
        ("client.id=me\nsecurity.protocol=SSL\n", "client.id: not a setting datamoat can"),
        ("security.protocol=PLAINTEXT\nssl.truststore.type=PEM\n", "does not use TLS"),
        ("sasl.password=${vault:secret/kafka:pw}\n", "config provider 'vault', which"),
        ("config.providers=env\nconfig.providers.env.class="
         "org.apache.kafka.common.config.provider.EnvVarConfigProvider\n"
         "security.protocol=${env:NOT_SET_HERE_EVER}\n", "NOT_SET_HERE_EVER, which is not set"),
    ],
)  # fmt: skip
def test_what_it_cannot_honour_is_one_line_naming_it(tmp_path: Path, text: str, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        read_client_config(path)
    message = str(err.value)
    assert says in message and "\n" not in message and SECRET not in message
    assert message.startswith(f"client config {path}")


def test_every_command_takes_the_flag_and_a_bad_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, f"security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
                           f"sasl.jaas.config={SCRAM}\n")  # fmt: skip
    code = main(["topics", "--client-config", str(path), "--wait-for-broker", "0"])
    err = capsys.readouterr().err
    assert code == 2, err
    (line,) = err.strip().splitlines()
    assert "sasl.mechanism PLAIN needs org.apache.kafka.common.security.plain" in line
    assert SECRET not in err


def test_the_file_reaches_the_processes_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    path = write(tmp_path, "security.protocol=PLAINTEXT\n")
    monkeypatch.chdir(tmp_path)
    settings = use_client_config(Path("client.properties"))
    assert not settings.secured and settings.kwargs == {"security_protocol": "PLAINTEXT"}
    assert os.environ[ENV_VAR] == str(path.resolve())
    monkeypatch.setattr(client_config, "_active", None)
    assert client_config.client_settings().origin == str(path.resolve())
