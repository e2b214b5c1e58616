from lumbarqi import labels as L


def test_structure_of_folds_level_and_side():
    assert L.structure_of("L4") == ("vertebral_body", "L4", None)
    assert L.structure_of("L4/L5") == ("disc", "L4/L5", None)
    assert L.structure_of("L5/S1") == ("disc", "L5/S1", None)
    assert L.structure_of("erector spinae, left") == ("erector_spinae", None, "left")
    assert L.structure_of("quadratus lumborum, right") == ("quadratus_lumborum", None, "right")


def test_label_numbers_are_unique_and_named():
    names = L.label_names()
    assert len(names) == len(set(names.values()))
    assert names[L.DISC_LABEL["L4/L5"]] == "L4/L5"
    assert names[L.MUSCLE_LABEL[("psoas", "right")]] == "psoas, right"
    assert L.DISCS[-1] == "L5/S1" and L.VERTEBRAE[-1] == "S1"
