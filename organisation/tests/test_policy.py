from organisation.policy import can_view_personal_data, name_for_viewer, personnummer_for_viewer
from organisation.tests.factories import CustodyFactory, PupilFactory


def test_staff_at_the_pupils_unit_see_the_whole_personnummer(lars_teacher_at_ekbacke, alva_at_ekbacke):
    pnr = alva_at_ekbacke.personnummer
    assert can_view_personal_data(lars_teacher_at_ekbacke, alva_at_ekbacke)
    assert personnummer_for_viewer(lars_teacher_at_ekbacke, alva_at_ekbacke) == f"{pnr[:8]}-{pnr[8:]}"
    assert name_for_viewer(lars_teacher_at_ekbacke, alva_at_ekbacke) == "Alva Ek"


def test_a_principal_at_another_unit_sees_only_a_masked_number_and_initials(
    olle_principal_at_strand, alva_at_ekbacke
):
    assert not can_view_personal_data(olle_principal_at_strand, alva_at_ekbacke)
    shown = personnummer_for_viewer(olle_principal_at_strand, alva_at_ekbacke)
    assert shown == f"{alva_at_ekbacke.personnummer[:8]}-****"
    assert name_for_viewer(olle_principal_at_strand, alva_at_ekbacke) == "A. E."


def test_a_guardian_sees_her_own_child_but_not_another_child(sara_guardian_of_alva, alva_at_ekbacke, ekbacke):
    classmate = PupilFactory(unit=ekbacke, first_name="Hugo")
    CustodyFactory(pupil=classmate)  # someone else's child

    assert can_view_personal_data(sara_guardian_of_alva.user, alva_at_ekbacke)
    assert not can_view_personal_data(sara_guardian_of_alva.user, classmate)
