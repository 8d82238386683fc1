# ruff: noqa: RUF001  (the catalogues write full-width brackets in Chinese and Japanese)
"""The ledger's words the product writes: English in the store, as the API gives them, and the
reader's on a page, from the same template."""

import pytest

from gateway.values import memos
from gateway.values.languages import ENGLISH, Catalogues


@pytest.mark.parametrize(
    ("written", "zh", "ja"),
    [
        (
            memos.written(memos.ORDER_OF_PACK, name="Starter", credits="5,000"),
            "Starter 充值包（5,000 额度）",
            "Starter パック（5,000 クレジット）",
        ),
        (
            memos.written(memos.ORDER, name=memos.CUSTOM_AMOUNT, credits="2,500"),
            "自定义金额（2,500 额度）",
            "任意の金額（2,500 クレジット）",
        ),
        (
            memos.written(memos.PERIOD["month"], name="Pro"),
            "Pro 套餐（每月额度）",
            "Pro プラン（毎月のクレジット）",
        ),
    ],
)
def test_what_the_product_writes_is_read_in_each_language(written: str, zh: str, ja: str) -> None:
    catalogues = Catalogues.load()
    assert memos.read(written, ENGLISH.translations) == written
    assert memos.read(written, catalogues.of("zh")) == zh
    assert memos.read(written, catalogues.of("ja")) == ja


def test_what_a_person_wrote_is_no_template_and_a_name_is_kept_as_given() -> None:
    zh = Catalogues.load().of("zh")
    assert memos.written(memos.ORDER_OF_PACK, name="Pro", credits="1") == "Pro pack (1 credits)"
    assert memos.read("Balance adjustment", zh) is None
    assert memos.read("Top-up for (the team) credits", zh) is None
    # A pack named as a catalogue word keeps its name: only the product's own is translated.
    assert memos.read("Wallet pack (10 credits)", zh) == "Wallet 充值包（10 额度）"
