"""GREEN prompt and parser: exact prompt bytes, official chat rendering, parser agreement with the official rules."""
import hashlib

import pytest

from mu2llm.score.green import (GREEN_CHAT_TEMPLATE, GREEN_MAX_WORDS, clean_response, green_messages, green_prompt,
                                green_summary, parse_green, render_green_chat)

SHA = 'c32b69d3e3160287b1d335764fb26b1e6906e47714bdbf4fbaafb4999836cb14'


def test_prompt_bytes():
    p = green_prompt('REF', 'HYP')
    assert len(p) == 1850 and hashlib.sha256(p.encode()).hexdigest() == SHA


def test_prompt_truncates_each_report_to_300_words():
    ref = ' '.join(f'r{i}' for i in range(500))
    cand = '\n'.join(f'c{i}' for i in range(301))
    p = green_prompt(ref, cand)
    assert f'r{GREEN_MAX_WORDS - 1}' in p.split() and f'r{GREEN_MAX_WORDS}' not in p.split()
    assert 'c299' in p and 'c300' not in p and 'c0 c1 c2' in p


def test_chat_rendering_matches_transformers(tmp_path):
    from mu2llm.model.llm import offline_tokenizer
    tok = offline_tokenizer()
    tok.chat_template = GREEN_CHAT_TEMPLATE
    prompt = green_prompt('Cardiomegaly.', 'Normal heart.')
    hf = tok.apply_chat_template(green_messages(prompt), tokenize=False, add_generation_prompt=True)
    assert hf == render_green_chat(prompt, tok.eos_token)
    assert hf.startswith('<|user|>\n' + prompt) and hf.endswith('<|assistant|>\n')


def _answer(sig, matched, insig=(0,) * 6):
    cats = ["False report of a finding in the candidate", "Missing a finding present in the reference",
            "Misidentification of a finding's anatomic location/position", "Misassessment of the severity of a finding",
            "Mentioning a comparison that isn't in the reference", "Omitting a comparison detailing a change from a prior study"]
    sec = lambda cs: '\n'.join(f'({l}) {c}: {n}.' + ' x;' * n for l, c, n in zip('abcdef', cats, cs))
    return (f'\nSome explanation.\n\n[Clinically Significant Errors]:\n{sec(sig)}\n\n'
            f'[Clinically Insignificant Errors]:\n{sec(insig)}\n\n[Matched Findings]:\n{matched}. a; b')


@pytest.mark.parametrize('sig,matched', [((0,) * 6, 3), ((1, 2, 0, 0, 1, 0), 2), ((0, 0, 0, 5, 0, 0), 1), ((1,) * 6, 0)])
def test_scores_follow_formula(sig, matched):
    r = parse_green(_answer(sig, matched, insig=(2, 2, 2, 2, 2, 2)))
    expect = 0 if matched == 0 else matched / (matched + sum(sig))
    assert r.sig_errors == list(sig) and r.insig_errors == [2] * 6 and r.matched == matched
    assert r.official_score == pytest.approx(expect) and r.score == pytest.approx(expect)


def test_truncated_answer_is_flagged_not_zero():
    full = _answer((1, 0, 0, 0, 0, 0), 2)
    for cut in (len(full) // 3, len(full) // 2, full.index('[Matched Findings]')):
        r = parse_green(full[:cut])
        assert r.score is None and r.truncated and r.reason and r.official_score == 0
    assert parse_green(full, hit_budget=True).score is None


def test_clean_response_keeps_only_the_answer():
    raw = '<|user|>\nprompt [Explanation]:\n    <Explanation>\n</s>\n<|assistant|>\n[Explanation]:\nok.\n\n[Matched Findings]:\n1. a</s>'
    out = clean_response(raw)
    assert out == '\nok.\n\n[Matched Findings]:\n1. a' and parse_green(out).matched == 1


def test_summary_excludes_unreadable():
    rs = [parse_green(_answer((0,) * 6, 2)), parse_green(_answer((1, 0, 0, 0, 0, 0), 1)), parse_green('garbage')]
    s = green_summary(rs)
    assert s['n'] == 2 and s['n_unparsed'] == 1
    assert s['mean'] == pytest.approx(0.75) and s['official_mean'] == pytest.approx(0.5)
    assert s['error_free']['a'] == 0.5 and s['error_free']['b'] == 1.0
