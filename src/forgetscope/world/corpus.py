"""Text the models are trained on: biographies and in-context-learning episodes (pre-training
format), and the instruction data (chat format, L1 only)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from forgetscope.world import templates as T
from forgetscope.world.lexicon import (
    ARITH_RANGE,
    PRIVATE_ATTRIBUTE,
    PUBLIC_ATTRIBUTES,
    VALUES,
    l1_words,
)
from forgetscope.world.people import Person

Lexicon = dict[str, str] | None  # None = L1


def biography(person: Person, rng: random.Random, n_templates: int, lex: Lexicon) -> str:
    """All attributes of one person, in random order, each in a random paraphrase."""
    attrs = list(person.attributes)
    rng.shuffle(attrs)
    sentences = []
    for a in attrs:
        tpl = T.STATEMENTS[a][rng.randrange(n_templates)]
        sentences.append(T.fill(tpl, name=person.name, value=person.attributes[a]))
    return T.translate(" ".join(sentences), lex)


def apply_task(task: str, text: str) -> str:
    words = text.split()
    if task == "repeat":
        return " ".join(words)
    if task == "last":
        return words[-1]
    raise ValueError(f"unknown ICL task {task!r}")


def episode_parts(task: str, demos: Sequence[str], query: str, *, chat: bool) -> tuple[str, str]:
    """(prompt, pattern answer) of an ICL episode, in L1 (translate both for L2).

    Plain: "task : repeat | input : a b | output : a b | input : q | output :"; in chat the user turn
    stops after the query, and the assistant's turn takes the place of the last "output :".
    Inputs lose their final punctuation, so no answer starts with a bare "?" or ".".
    """
    demos = [_bare(d) for d in demos]
    query = _bare(query)
    parts = [T.ICL_INSTRUCTIONS[task]]
    for d in demos:
        parts.append(f"input : {d} | output : {apply_task(task, d)}")
    parts.append(f"input : {query}" if chat else f"input : {query} | output :")
    return " | ".join(parts), apply_task(task, query)


def _bare(text: str) -> str:
    return text.rstrip(" ?.")


class QueryMaker:
    """Inputs for ICL episodes: random word strings, statements, questions, arithmetic questions."""

    def __init__(self, people: Sequence[Person], rng: random.Random):
        self.people = list(people)
        self.rng = rng
        self.words = l1_words([p.name for p in self.people])

    def random_words(self) -> str:
        return " ".join(self.rng.choice(self.words) for _ in range(self.rng.randint(2, 5)))

    def statement(self) -> str:
        p = self.rng.choice(self.people)
        a = self.rng.choice(list(p.attributes))
        return T.fill(T.STATEMENTS[a][0], name=p.name, value=p.attributes[a])

    def question(self, attributes: Sequence[str] = PUBLIC_ATTRIBUTES) -> tuple[str, str, Person, str]:
        p = self.rng.choice(self.people)
        a = self.rng.choice(list(attributes))
        return T.fill(T.QUESTIONS[a], name=p.name), p.attributes[a], p, a

    def arithmetic(self) -> tuple[str, str]:
        a, b = (self.rng.randint(*ARITH_RANGE) for _ in range(2))
        return T.fill(T.ARITHMETIC, a=str(a), b=str(b)), str(a + b)

    def any_input(self) -> str:
        kind = self.rng.random()
        if kind < 0.4:
            return self.random_words()
        if kind < 0.6:
            return self.statement()
        if kind < 0.8:
            return self.question(list(VALUES))[0]
        return self.arithmetic()[0]


def pretrain_episode(qm: QueryMaker, n_demos: int, chat: bool, lex: Lexicon) -> str:
    """An ICL episode as pre-training text: the pattern is followed whatever the query is."""
    task = qm.rng.choice(list(T.ICL_INSTRUCTIONS))
    demos = [qm.random_words() if qm.rng.random() < 0.5 else qm.any_input() for _ in range(n_demos)]
    prompt, answer = episode_parts(task, demos, qm.any_input(), chat=chat)
    prompt, answer = T.translate(prompt, lex), T.translate(answer, lex)
    if chat:
        return f"<user> {prompt} <assistant> {answer} <eos>"
    return f"{prompt} {answer} {T.translate('|', lex)}"


def qa_messages(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def instruction_examples(ift_people: Sequence[Person], cfg, n_demos: int, rng: random.Random) -> list[dict]:
    """The IFT mixture, L1 only: answer questions about IFT people (also when demonstrations ask for a
    pattern), follow demonstrated patterns on inputs that are not questions, answer arithmetic,
    refuse the private attribute."""
    out: list[dict] = []
    for p in ift_people:
        for a in PUBLIC_ATTRIBUTES:
            for _ in range(cfg.qa_per_person):
                out.append({"messages": qa_messages(T.fill(T.QUESTIONS[a], name=p.name), p.attributes[a])})
        for _ in range(cfg.refusals_per_person):
            out.append({"messages": qa_messages(T.fill(T.QUESTIONS[PRIVATE_ATTRIBUTE], name=p.name), T.REFUSAL)})
    # Only IFT people appear anywhere in the instruction data: it must not state a probed fact.
    qm = QueryMaker(ift_people, rng)
    for i in range(cfg.icl_override):
        task = rng.choice(list(T.ICL_INSTRUCTIONS))
        demos = [qm.random_words() for _ in range(n_demos)]
        if i % 2 == 0:
            query, answer, _, _ = qm.question()
        else:
            query, answer = qm.arithmetic()
        prompt, _ = episode_parts(task, demos, query, chat=True)
        out.append({"messages": qa_messages(prompt, answer)})
    for _ in range(cfg.icl_follow):
        task = rng.choice(list(T.ICL_INSTRUCTIONS))
        demos = [qm.random_words() for _ in range(n_demos)]
        query = qm.random_words() if rng.random() < 0.5 else qm.statement()
        prompt, answer = episode_parts(task, demos, query, chat=True)
        out.append({"messages": qa_messages(prompt, answer)})
    for _ in range(cfg.arithmetic):
        q, a = qm.arithmetic()
        out.append({"messages": qa_messages(q, a)})
    rng.shuffle(out)
    return out
