"""XSD validation against the official schemas, and the integrity of the shipped XSDs."""

from __future__ import annotations

import hashlib
import importlib.resources
import io
import json
from pathlib import Path

import pytest

from formats.validate import available_schemas, schema_for, validate
from tests.formats.xmlbits import document, ntry, statement

# Samples that deviate from the official XSD of their namespace (SOURCES.md agrees), with
# the first problem lxml reports: (relative path, line, XPath of the offending element).
KNOWN_DEVIATIONS = {
    "hbci4j-hbci4java/test-camt-ruecklastschrift.xml": (
        26,
        "/Document/BkToCstmrAcctRpt/Rpt/Acct/Svcr/FinInstnId/BIC",
    ),
    "kedder-ofxstatement-iso20022/camt053.xml": (
        36,
        "/Document/BkToCstmrStmt/Stmt/Acct/Svcr/FinInstnId/BICFI",
    ),
    "kedder-ofxstatement-iso20022/davider80.xml": (19, "/Document/BkToCstmrStmt/Stmt/Acct/Id/IBAN"),
    "oca-account-payment-19.0-pypi/test-sepa-camt-053-unpaid.xml": (
        22,
        "/Document/BkToCstmrStmt/Stmt/TxsSummry",
    ),
    "oca-bank-statement-import/test-camt053-no-ntry": (
        22,
        "/Document/BkToCstmrStmt/Stmt/Acct/Svcr/FinInstnId/BIC",
    ),
    "oca-bank-statement-import/test-camt053-txdtls": (
        106,
        "/Document/BkToCstmrStmt/Stmt/Ntry/NtryDtls/TxDtls[1]/RltdPties/Dbtr/PstlAdr/Ctry",
    ),
    "tryton/camt.053.001.02.xml": (12, "/Document/BkToCstmrStmt/GrpHdr/MsgPgntn/LastPgInd"),
    "viafintech-sepa_file_parser/camt053/valid_example.xml": (
        62,
        "/Document/BkToCstmrStmt/Stmt/Ntry[1]/NtryRef",
    ),
    "viafintech-sepa_file_parser/camt053/valid_example_v8.xml": (
        121,
        "/Document/BkToCstmrStmt/Stmt/Ntry[1]/NtryDtls/TxDtls/Refs/UETR",
    ),
    "viafintech-sepa_file_parser/camt053/valid_example_with_batch.xml": (
        143,
        "/Document/BkToCstmrStmt/Stmt/Ntry[1]/NtryDtls/Btch/MsgId",
    ),
    "viafintech-sepa_file_parser/camt054/valid_example_with_empty_amount.xml": (
        24,
        "/Document/BkToCstmrDbtCdtNtfctn/Ntfctn/Acct/Svcr/FinInstnId/BIC",
    ),
}


def _camt_samples(root: Path) -> list[Path]:
    from formats import camt

    return [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in ("", ".xml") and camt.identify(p.read_bytes()[:4096])
    ]


def test_samples_validate_or_show_their_known_deviation(iso_samples: Path) -> None:
    seen = set()
    for path in _camt_samples(iso_samples):
        relative = path.relative_to(iso_samples).as_posix()
        with path.open("rb") as f:
            problems = validate(f, source=relative)
        if relative in KNOWN_DEVIATIONS:
            seen.add(relative)
            line, xpath = KNOWN_DEVIATIONS[relative]
            assert problems, relative
            assert (problems[0].line, problems[0].path) == (line, xpath), (relative, str(problems[0]))
            assert all(p.code == "XSD-E001" and p.source == relative and p.line for p in problems)
        else:
            assert problems == [], (relative, [str(p) for p in problems])
    assert seen == set(KNOWN_DEVIATIONS)


def test_broken_file_lists_each_problem_with_line_and_path() -> None:
    bad = document(
        [
            statement(
                [
                    ntry("<BkTxCd><Prtry><Cd>X</Cd></Prtry></BkTxCd>", amt="1.123456"),
                    ntry("<BkTxCd><Prtry><Cd>X</Cd></Prtry></BkTxCd>", ind="BOTH"),
                    ntry("<BkTxCd><Prtry><Cd>X</Cd></Prtry></BkTxCd>", ccy="euro"),
                ],
                head="<CreDtTm>2024-01-31T18:00:00</CreDtTm>",
            )
        ]
    ).replace(b"><Ntry>", b">\n<Ntry>")
    problems = validate(io.BytesIO(bad), source="bad.xml")
    where = [(p.line, p.path) for p in problems]
    assert where == [
        (5, "/Document/BkToCstmrStmt/Stmt/Ntry[1]/Amt"),
        (6, "/Document/BkToCstmrStmt/Stmt/Ntry[2]/CdtDbtInd"),
        (7, "/Document/BkToCstmrStmt/Stmt/Ntry[3]/Amt"),
    ]
    assert "{urn:" not in problems[0].message
    assert str(problems[0]).startswith("bad.xml:5: XSD-E001 Element 'Amt'")


@pytest.mark.parametrize(
    ("data", "code", "fragment"),
    [
        (b'<Document xmlns="urn:example:other"/>', "XSD-E002", "urn:example:other"),
        (b"<Document/>", "XSD-E002", "(no namespace)"),
        (document([statement([ntry()])], version="14"), "XSD-E002", "camt.053.001.14"),
        (b"<Document", "CAMT-E001", "not well-formed"),
        (b'<!DOCTYPE d [<!ENTITY e "x">]><d>&e;</d>', "CAMT-E002", "DOCTYPE"),
    ],
)
def test_unknown_namespace_and_bad_xml_give_one_problem(data: bytes, code: str, fragment: str) -> None:
    (problem,) = validate(io.BytesIO(data), source="x.xml")
    assert problem.code == code
    assert fragment in problem.message


def test_every_shipped_xsd_compiles_and_is_cached() -> None:
    names = available_schemas()
    assert len([n for n in names if n.startswith("camt.05")]) == 36
    for name in names:
        assert schema_for(name) is schema_for(name)


def test_xsds_match_the_manifest() -> None:
    folder = importlib.resources.files("schemas").joinpath("iso20022")
    manifest = json.loads(folder.joinpath("MANIFEST.json").read_text(encoding="utf-8"))
    on_disk = {p.name for p in folder.iterdir() if p.name.endswith(".xsd")}
    assert on_disk == set(manifest)
    for name, entry in manifest.items():
        data = folder.joinpath(name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert entry["package"] in {"camt053", "sepaxml", "pain001"}
        assert entry["path"].endswith(name) and entry["version"]
