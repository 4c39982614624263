"""Generate a large camt.053.001.02 statement, streaming (constant memory), for the benchmarks.

Usage: ``python bench/gen_camt.py N OUT`` writes one statement with N entries, a mix of
single credits with Ustrd and a structured ISO 11649 RF reference (60 %), batch credits
with 2-5 TxDtls (20 %) and debits (20 %); about 1.5 KB per entry. Deterministic for a given N.
The opening + booked entries = closing check holds.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
IBAN = "DE89370400440532013000"


def _rf(n: int) -> str:
    """An ISO 11649 reference (ISO 7064 mod 97-10 over body + "RF00")."""
    body = f"INV{n:010d}"
    digits = "".join(str(int(c, 36)) for c in body + "RF00")
    return f"RF{98 - int(digits) % 97:02d}{body}"


def _tx(
    out: list[str], *, amount: Decimal | None, e2e: str, name: str, iban: str, ustrd: str, rf: str
) -> None:
    out.append("<TxDtls><Refs>")
    out.append(f"<AcctSvcrRef>TX{e2e}</AcctSvcrRef><EndToEndId>{e2e}</EndToEndId></Refs>")
    if amount is not None:
        out.append(f'<AmtDtls><TxAmt><Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls>')
    out.append(
        "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
        f"<RltdPties><Dbtr><Nm>{name}</Nm><PstlAdr><Ctry>DE</Ctry><AdrLine>Hauptstrasse 1</AdrLine>"
        f"<AdrLine>10115 Berlin</AdrLine></PstlAdr></Dbtr><DbtrAcct><Id><IBAN>{iban}</IBAN></Id></DbtrAcct>"
        "<Cdtr><Nm>ACME GmbH</Nm></Cdtr></RltdPties>"
        "<RltdAgts><DbtrAgt><FinInstnId><BIC>COBADEFFXXX</BIC></FinInstnId></DbtrAgt></RltdAgts>"
        f"<RmtInf><Ustrd>{ustrd}</Ustrd><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>"
        f"<Ref>{rf}</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>"
    )


def _plan(n: int) -> Iterator[tuple[int, Decimal]]:
    """(kind, amount) of each entry: 0 single credit, 1 batch credit, 2 debit."""
    rng = random.Random(n)
    for _ in range(n):
        kind = rng.random()
        amount = Decimal(rng.randint(100, 9_999_999)) / 100
        yield (0 if kind < 0.6 else 1 if kind < 0.8 else 2), amount


def generate(n: int, out_path: Path) -> None:
    rng = random.Random(-n)  # batch splits
    opening = Decimal("1000000.00")
    balance = opening
    with out_path.open("w", encoding="utf-8", buffering=1 << 20) as f:
        f.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NS}">\n<BkToCstmrStmt>\n')
        f.write("<GrpHdr><MsgId>BENCH-1</MsgId><CreDtTm>2024-01-31T18:00:00</CreDtTm></GrpHdr>\n")
        f.write(
            f"<Stmt><Id>BENCH-STMT-1</Id><ElctrncSeqNb>1</ElctrncSeqNb><CreDtTm>2024-01-31T18:00:00</CreDtTm>"
            f"<Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>\n"
            "<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp>"
            f'<Amt Ccy="EUR">{opening}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-01-01</Dt></Dt></Bal>\n'
        )
        # The closing balance precedes the entries (schema order): a first pass over the same
        # seeded sequence computes it, so nothing is held in memory.
        for _kind, amount in _plan(n):
            balance += -amount if _kind == 2 else amount
        f.write(
            "<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp>"
            f'<Amt Ccy="EUR">{abs(balance)}</Amt><CdtDbtInd>{"CRDT" if balance >= 0 else "DBIT"}</CdtDbtInd>'
            "<Dt><Dt>2024-01-31</Dt></Dt></Bal>\n"
        )
        chunk: list[str] = []
        for i, (kind, amount) in enumerate(_plan(n), 1):
            day = 1 + i % 28
            chunk.append(
                f'<Ntry><NtryRef>{i}</NtryRef><Amt Ccy="EUR">{amount}</Amt>'
                f"<CdtDbtInd>{'DBIT' if kind == 2 else 'CRDT'}</CdtDbtInd><Sts>BOOK</Sts>"
                f"<BookgDt><Dt>2024-01-{day:02d}</Dt></BookgDt><ValDt><Dt>2024-01-{day:02d}</Dt></ValDt>"
                f"<AcctSvcrRef>BANKREF{i:09d}</AcctSvcrRef>"
                "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>"
                "<Prtry><Cd>NTRF+166</Cd><Issr>DK</Issr></Prtry></BkTxCd><NtryDtls>"
            )
            if kind == 1:
                parts = rng.randint(2, 5)
                cents = int(amount * 100)
                cuts = sorted(rng.sample(range(1, cents), parts - 1)) if cents > parts else []
                values = [b - a for a, b in zip([0, *cuts], [*cuts, cents], strict=True)]
                chunk.append(f"<Btch><NbOfTxs>{len(values)}</NbOfTxs></Btch>")
                for k, v in enumerate(values):
                    _tx(
                        chunk,
                        amount=Decimal(v) / 100,
                        e2e=f"E2E-{i}-{k}",
                        name=f"Kunde {i % 9973} GmbH",
                        iban="DE02120300000000202051",
                        ustrd=f"Rechnung {i}-{k} vom 2024-01-{day:02d}",
                        rf=_rf(i * 10 + k),
                    )
            else:
                _tx(
                    chunk,
                    amount=None,
                    e2e=f"E2E-{i}",
                    name=f"Kunde {i % 9973} GmbH",
                    iban="DE02120300000000202051",
                    ustrd=f"Rechnung {i} vom 2024-01-{day:02d}",
                    rf=_rf(i),
                )
            chunk.append("</NtryDtls><AddtlNtryInf>SEPA Credit Transfer</AddtlNtryInf></Ntry>\n")
            if len(chunk) > 2000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))
        f.write("</Stmt>\n</BkToCstmrStmt>\n</Document>\n")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    generate(int(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
