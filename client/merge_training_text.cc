#include "client/merge_training_text.h"

namespace tessera {
namespace {

constexpr std::string_view kText = R"TEXT(
The morning train was late again, so the people on the platform did what people always do: they
looked at their phones, they looked at the clock, and they looked down the empty track as if that
would bring the train any sooner. A woman with a small dog held a cup of coffee in both hands. Two
students argued quietly about an exam that they had written the day before. An old man in a grey
coat read a newspaper, folding each page with great care, and he did not seem to mind the wait at
all. When the train finally arrived, twelve minutes after the time printed on the board, everyone
moved toward the doors at once, and for a moment the whole station was full of noise and motion.

How a language model works

A language model reads a sequence of tokens and predicts which token is likely to come next. The
tokens are not exactly words: a tokenizer cuts text into pieces that are often whole words, but
sometimes parts of words, single letters, spaces or punctuation marks. Common words such as "the",
"and", "of" and "to" usually become one token each, while a rare word like "photosynthesis" may be
split into several. Because every byte is also a token, any text can be written down, even text in
a language the tokenizer has never seen, or a string of emoji, or the source code of a program.

The model itself is a stack of layers. Each layer first lets every position look at the positions
before it, through attention, and then passes the result through a small feed-forward network. The
attention step is where most of the memory goes during generation, because the keys and values of
every earlier token must be kept around so that they do not have to be computed again. Serving
systems store these keys and values in fixed-size blocks, much as an operating system stores the
pages of a program's memory, so that many requests of different lengths can share one large pool
without wasting space.

When a request arrives, the server first turns its text into token ids. The scheduler then decides
which requests run in the next step: requests that are already generating come first, since each
of them needs only one new token, and the remaining budget is filled with chunks of new prompts.
After every step the scheduler checks whether a request has produced its end-of-sequence token,
reached its maximum length, or matched one of its stop strings, and frees its blocks when it is
done. A good scheduler keeps the accelerator busy without letting any single tenant take more than
its fair share, and it never lets one bad request bring down the whole process.

Fine-tuning a large model for every customer would be expensive, so many systems train small
low-rank adapters instead. An adapter adds two thin matrices beside each weight it changes; their
product is a correction that is cheap to store and quick to load. Thousands of adapters can share
one base model, and a batch may mix requests that use different adapters, as long as the kernels
know which rows of the batch belong to which adapter.

A short history of computing

In 1945 the first electronic computers filled entire rooms and used thousands of vacuum tubes. They
were programmed by setting switches and plugging cables, and a single calculation could take hours
to prepare. By 1960 transistors had replaced most tubes, and by 1975 a complete processor fit on a
single chip of silicon. The personal computers of the 1980s brought word processing and
spreadsheets into homes and offices; the 1990s connected them through the internet; and the 2000s
put a computer with a radio, a camera and a touch screen into nearly every pocket. Over the same
years memory grew from a few thousand bytes to many billions, and the cost of a calculation fell
by a factor of more than a trillion.

Each of these changes was made possible by people who thought carefully about small details: how
to represent a number, how to sort a list, how to share a printer among many users, how to make sure
that a message sent across the world arrives in one piece. Much of their work survives in the tools
we use today, often hidden so well that we forget it is there.

Notes from the kitchen

To make a simple loaf of bread, mix 500 grams of flour, 350 grams of warm water, 10 grams of salt
and 7 grams of dried yeast. Knead the dough for about ten minutes, until it is smooth and springs
back when you press it with a finger. Cover the bowl and leave it somewhere warm for an hour, or
until the dough has doubled in size. Shape it into a round, let it rise for another 45 minutes,
and bake it at 230 degrees for 30 to 35 minutes. The bread is done when it sounds hollow as you
tap the bottom. Let it cool before you cut it; the inside keeps cooking for a while after it comes
out of the oven.

For a quick soup, soften an onion and two cloves of garlic in olive oil, add three chopped carrots,
a potato and a litre of stock, and simmer until the vegetables are tender. Blend half of it, stir
it back in, and season with pepper, lemon juice and fresh herbs. It keeps well in the fridge for
three days and tastes even better the next morning.

The river and the mountain

Far to the north there is a valley where a cold river runs between two mountains. In spring the
snow melts and the river rises, carrying branches and stones down toward the lake. In summer the
water is clear enough to count the fish, and children from the village swim in the deep pools
below the old stone bridge. In autumn the forests on both sides turn red and gold, and the first
storms come over the western ridge. In winter the river freezes at the edges, and only the fastest
water in the middle keeps moving, dark and quiet under the grey sky.

The people who live there say that the mountain on the left is older than the one on the right,
although nobody can explain how they know. They tell visitors that the weather changes every hour,
that the road over the pass is never really open, and that anyone who wants to understand the
valley has to stay for a whole year. Most visitors leave after a week. A few come back.

Questions and answers

What time is it? It's half past four. Where are you going? I'm going home, but I'll stop at the
shop first. Did you remember the keys? Yes, they're in my bag. Have you seen the new film? Not yet;
we've been too busy, and they'd sold out of tickets on Friday. Why is the sky blue? Because air
scatters short wavelengths of sunlight more than long ones, so blue light reaches us from every
direction. Who wrote this? Nobody famous: it was written to give a small tokenizer something to
learn from.

Numbers and lists

The meeting is on 2024-03-15 at 09:30 in room 214. The budget is $12,500, about 8% more than last
year. Items: 1) apples, 2) bread, 3) cheese, 4) dates, 5) eggs. Version 3.2.1 fixed 17 bugs and
added 4 features. The ratio was 3:1, the error was 0.05, and the result was 42. Call 555-0199 or
write to the office at 10 Main Street. Temperatures ranged from -5 to 28 degrees over the week.

A little code

def mean(values):
    """Returns the average of a list of numbers."""
    if not values:
        return 0.0
    return sum(values) / len(values)

for (int i = 0; i < n; ++i) {
  if (data[i] > max_value) max_value = data[i];
}

{"id": "request-1", "text": "Hello, world!", "max_tokens": 16, "temperature": 0.7}

if [ -f config.json ]; then echo "found the config"; else exit 1; fi

SELECT name, count(*) FROM users WHERE active = true GROUP BY name ORDER BY count DESC;

A weekend match

The home side started quickly and scored after only six minutes, when their young striker turned
past two defenders and shot low into the corner. The visitors struggled to keep possession, but
their goalkeeper made several brilliant saves before half-time. After the break the game changed
completely: the visitors pressed higher, won a penalty, and equalised with a calm finish. In the
final minutes both teams looked tired, and the crowd grew nervous. Then, deep into stoppage time, a
free kick curled over the wall and struck the crossbar, and the referee blew the whistle. One goal
each was probably a fair result, although neither manager seemed especially happy about it.

A visitor's guide

The city is easy to explore on foot. Start at the central square, where the market opens every
Tuesday, Thursday and Saturday, and walk north along the canal to the museum of modern art. Tickets
are cheaper in the evening, and the rooftop cafe has a beautiful view of the cathedral. Public
transport is reliable: trams run every few minutes until midnight, and a single ticket covers any
journey within ninety minutes. Pharmacies, banks and post offices close early on Sundays, so plan
ahead. Most restaurants expect a reservation on weekends, especially the small family places near
the harbour, which serve excellent fish, grilled vegetables and a famous chocolate dessert.

Science in brief

Water boils at a lower temperature on a high mountain, because the air pressure there is weaker.
Plants capture energy from sunlight and store it as sugar, releasing oxygen as a by-product. The
moon has no atmosphere, so its surface swings between extreme heat and freezing cold. Sound travels
faster through water and steel than through air. Electricity flows when electrons move through a
conductor, and magnets can generate a current when they rotate near a coil of copper wire. Every
living cell contains instructions written in a chemical alphabet of only four letters.

Markdown and configuration

# Installation

- Run `make install` as an ordinary user.
- Set `LOG_LEVEL=debug` to print every request.
- See [the manual](https://example.org/docs) for details.

server:
  port: 8080
  workers: 4
  timeout_seconds: 30

A letter

Dear friend,

Thank you for your kind letter and for the photographs of the garden. The roses look wonderful,
and I can hardly believe how much the little apple tree has grown since the spring. Here the
weather has been strange: warm and bright one day, cold and windy the next. We have been working
on the house, painting the kitchen and fixing the window that never closed properly. It is not
finished yet, but it already feels brighter and more comfortable. I hope that you and your family
are well, and that we will see each other again before the end of the year.

With best wishes,
Anna
)TEXT";

}  // namespace

std::string_view MergeTrainingText() { return kText; }

}  // namespace tessera
