"""The generated pages: LaTeX printing (:mod:`.latex`), the Figure-2 dynamics plot (:mod:`.dynamics_plot`),
neuron and derivation pages (:mod:`.neuron`), construction pages (:mod:`.constructions`) and the paper check
(:mod:`.papercheck`, its transcribed equations in :mod:`.readings`). ``ttfs derive`` and ``scripts/gen_docs.py``
use them."""
